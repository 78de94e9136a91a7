"""The built-in ``published`` pruner: the paper's own pruned networks, read from a reference checkout.

The Neural Sculpting reference repository (GitHub ShreyasMalakarjunPatil/Neural-Sculpting,
commit dae13ab) publishes, under ``results/``, the trained and pruned Boolean networks behind the
paper's figures, and in ``shell/*/*.sh`` one module-detection command per network with the
settings the authors chose for it. The repository has no licence, so sculptbench ships none of it:
this pruner reads a user's own checkout (``--param published.root=DIR`` or the environment variable
``SCULPTBENCH_REFERENCE_ROOT``) and yields, for a (task, architecture, seed index), exactly the
network the paper analysed. Any detector can then be ranked on the paper's networks.

Seed index ``i`` (sculptbench's ``--seeds``) is the ``i``-th reference seed of
:data:`REFERENCE_SEEDS`; the published grid has four. Where the scripts hold two commands for one
(task, architecture, seed), the first one (in sorted script order, then line order) is used.

Reading is defensive: weights load with ``torch.load(weights_only=True)`` and the pickled masks
through :class:`TensorOnlyUnpickler`, which refuses every global except the few that rebuild a
tensor, so a crafted checkout cannot run code.
"""

from __future__ import annotations

import argparse
import collections
import functools
import io
import os
import pickle
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from sculptbench.api import Option, Options, PaperSetting, PruneJob, Pruner, SculptbenchError, SculptedNetwork, Task, hookimpl

#: The reference seeds, in the order sculptbench's seed indices 0, 1, 2, 3 take them.
REFERENCE_SEEDS = (0, 1, 2, 5)
#: Environment variable naming the reference checkout when ``published.root`` is not given.
ROOT_ENV = "SCULPTBENCH_REFERENCE_ROOT"
#: ``shell/<folder>`` of the Boolean figures, and the family each belongs to.
SCRIPT_FAMILIES = {
    "exemplars": "exemplars",
    "non_separable_increasing_use": "reuse",
    "input_overlap_exp": "overlap",
    "increasing_hierarchical_levels": "levels",
}
#: The reference's fixed name parts: experiment, unit-pruning metric, task, pruning iterations, gamma.
_NAME_PARTS = ("prune", "activation_gradient_product", "boolean")
_NAME_TAIL = ("None", "1.0")


# --------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class ReferenceCommand:
    """One module-detection command of the reference's ``shell/`` scripts (one published network)."""

    script: str
    line: int
    modularity: tuple[int, ...]
    arch: tuple[int, ...]
    seed: int
    result_path: str
    #: The settings the authors chose for this network (the same record ``hparams=paper`` reads).
    setting: PaperSetting

    @property
    def family(self) -> str:
        """The figure family of the command's script (``exemplars``, ``reuse``, ...)."""
        return self.setting.family

    @property
    def paper_name(self) -> str:
        """The reference's task id as the task YAML files spell it (``"[6, 3, 3, 3]"``)."""
        return str(list(self.modularity))

    @property
    def hidden(self) -> tuple[int, ...]:
        """The hidden-layer widths."""
        return self.arch[1:-1]

    @property
    def seed_index(self) -> int | None:
        """The sculptbench seed index of this command's seed, or ``None`` if it is not in the grid."""
        return REFERENCE_SEEDS.index(self.seed) if self.seed in REFERENCE_SEEDS else None

    def stem(self) -> str:
        """The reference's file-name stem (``run/module_detection.py`` builds it the same way)."""
        st = self.setting
        parts = (*_NAME_PARTS, str(st.lr), str(st.batch_size), str(st.epochs), str(st.unit_step), str(st.edge_step), *_NAME_TAIL)
        return "".join(parts)

    def files(self, root: str | os.PathLike[str]) -> dict[str, Path]:
        """The paths of the network's weights (``model``) and masks (``mask``) under ``root``."""
        base = Path(root) / self.result_path / self.paper_name
        arch = str(list(self.arch))
        return {
            "model": base / "Models" / arch / f"{self.stem()}_Model{self.seed}.pth",
            "mask": base / "Masks" / arch / f"{self.stem()}_Mask{self.seed}.pkl",
        }

    def results_file(self, root: str | os.PathLike[str]) -> Path:
        """The path of the run's ``_Results`` pickle under ``root`` (its last entry is the pruned
        percentage the authors' notebook ranks); the published pruner does not read it."""
        return Path(root) / self.result_path / self.paper_name / "Results" / str(list(self.arch)) / f"{self.stem()}_Results{self.seed}.pkl"

    def detector_params(self) -> dict[str, Any]:
        """The ``sculpting`` detector's parameters this command sets."""
        return self.setting.detector_hints()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, recorded with every network."""
        return {
            "script": self.script, "line": self.line, "modularity": list(self.modularity), "arch": list(self.arch),
            "seed": self.seed, **self.setting.training(), "unit_step": self.setting.unit_step,
            "edge_step": self.setting.edge_step, **self.detector_params(),
        }


def _command_parser() -> argparse.ArgumentParser:
    """The flags of the reference's ``main.py`` that a Boolean detection command uses."""
    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    p.add_argument("--experiment")
    p.add_argument("--task")
    p.add_argument("--result_path", default="./results/exemplar/unit_edge/")
    p.add_argument("--modularity", nargs="+", type=int)
    p.add_argument("--arch", nargs="+", type=int)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unit_pruning_gradient", type=float)
    p.add_argument("--pruning_gradient", nargs="+", type=float, default=[2.5, 2.0, 1.5, 1.0, 0.5])
    p.add_argument("--feature_step_size", type=int, default=2)
    p.add_argument("--clusterability_step_size", type=int, default=2)
    p.add_argument("--cluster_merging_threshold", type=float)
    p.add_argument("--mm_threshold", type=float)
    return p


def check_root(root: str | os.PathLike[str] | None) -> Path:
    """The reference checkout at ``root``; raise :class:`SculptbenchError` if it is not one."""
    if root is None or str(root) == "":
        raise SculptbenchError(
            f"no reference checkout given; pass --param published.root=DIR (or set {ROOT_ENV}) with DIR a checkout of "
            "GitHub ShreyasMalakarjunPatil/Neural-Sculpting (docs/reproduction.md says how to get it)"
        )
    path = Path(root).expanduser()
    if not path.is_dir():
        raise SculptbenchError(f"reference checkout {str(root)!r} is not a directory; pass the folder of a checkout of Neural-Sculpting")
    for sub in ("shell", "results"):
        if not (path / sub).is_dir():
            raise SculptbenchError(
                f"{str(root)!r} is not a Neural-Sculpting checkout: it has no {sub}/ folder; pass the repository's top folder"
            )
    return path


def read_commands(root: str | os.PathLike[str]) -> list[ReferenceCommand]:
    """Every Boolean module-detection command of ``root/shell/*/*.sh``, in sorted script then line order."""
    path = check_root(root)
    parser = _command_parser()
    commands = []
    for script in sorted((path / "shell").glob("*/*.sh")):
        folder = script.parent.name
        if folder not in SCRIPT_FAMILIES:
            continue
        for number, text in enumerate(script.read_text(errors="replace").splitlines(), 1):
            if "main.py" not in text or "module_detection" not in text:
                continue
            try:
                args, _ = parser.parse_known_args(shlex.split(text)[2:])
            except (argparse.ArgumentError, ValueError) as exc:
                raise SculptbenchError(f"{script.relative_to(path)} line {number}: not a detection command the bench can read ({exc})") from None
            if args.task != "boolean" or args.experiment != "module_detection" or not args.arch or not args.modularity:
                continue
            commands.append(ReferenceCommand(
                script=str(script.relative_to(path)), line=number, modularity=tuple(args.modularity),
                arch=tuple(args.arch), seed=args.seed, result_path=args.result_path,
                setting=PaperSetting(
                    family=SCRIPT_FAMILIES[folder], lr=args.lr, batch_size=args.batch_size, epochs=args.epochs,
                    unit_step=args.unit_pruning_gradient, edge_step=args.pruning_gradient[0],
                    feature_step=args.feature_step_size, clusterability_step=args.clusterability_step_size,
                    merge_threshold=args.cluster_merging_threshold, mm_threshold=args.mm_threshold,
                ),
            ))
    if not commands:
        raise SculptbenchError(f"{str(root)!r} holds no Boolean module-detection command under shell/; pass a checkout of Neural-Sculpting")
    return commands


def first_commands(commands: Sequence[ReferenceCommand]) -> dict[tuple[str, tuple[int, ...], int], ReferenceCommand]:
    """The first command of each (paper name, architecture, seed); later duplicates are dropped."""
    index: dict[tuple[str, tuple[int, ...], int], ReferenceCommand] = {}
    for cmd in commands:
        index.setdefault((cmd.paper_name, cmd.arch, cmd.seed), cmd)
    return index


@functools.lru_cache(maxsize=4)
def _grid(root: str) -> dict[tuple[str, tuple[int, ...], int], ReferenceCommand]:
    return first_commands(read_commands(root))


# --------------------------------------------------------------------------- files
class TensorOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers of tensors and refuses every other global (no code runs).

    The reference pickled its masks as lists of (CUDA) tensors; their storages are nested
    ``torch.save`` blobs, which are loaded here with ``weights_only=True`` onto the CPU.
    """

    @staticmethod
    def _load_storage_bytes(blob: bytes) -> Any:
        return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)

    def find_class(self, module: str, name: str) -> Any:
        """Allow only the tensor-rebuilding functions and ``OrderedDict``."""
        allowed = {
            ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
            ("torch.storage", "_load_from_bytes"): self._load_storage_bytes,
            ("collections", "OrderedDict"): collections.OrderedDict,
        }
        try:
            return allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only tensors are allowed") from None


def _corrupt(path: Path, why: str) -> SculptbenchError:
    return SculptbenchError(f"corrupt reference file {path}: {why}; restore it with `git checkout -- .` in the checkout")


def load_network(cmd: ReferenceCommand, root: str | os.PathLike[str]) -> SculptedNetwork:
    """The published network of ``cmd``: weights (already masked in the file) and masks, on the CPU.

    Raises :class:`SculptbenchError` naming the file when it is missing, unreadable or of the wrong shape.
    """
    files = cmd.files(root)
    for path in files.values():
        if not path.is_file():
            raise SculptbenchError(f"missing reference file {path}; the checkout is incomplete (fetch the whole repository)")
    try:
        state = torch.load(files["model"], map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise _corrupt(files["model"], f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    try:
        with open(files["mask"], "rb") as fh:
            masks = TensorOnlyUnpickler(fh).load()
    except Exception as exc:  # noqa: BLE001
        raise _corrupt(files["mask"], f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    n_layers = len(cmd.arch) - 1
    if not isinstance(state, dict):
        raise _corrupt(files["model"], "not a state dict")
    if not isinstance(masks, (list, tuple)) or len(masks) != n_layers or not all(isinstance(m, torch.Tensor) for m in masks):
        raise _corrupt(files["mask"], f"expected a list of {n_layers} mask tensors")
    weights, biases, weight_masks = [], [], []
    for i in range(n_layers):
        shape = (cmd.arch[i + 1], cmd.arch[i])
        w, b = state.get(f"lin{i + 1}.weight"), state.get(f"lin{i + 1}.bias")
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != shape or not isinstance(b, torch.Tensor) or tuple(b.shape) != shape[:1]:
            raise _corrupt(files["model"], f"layer {i + 1} is not a {shape[0]}x{shape[1]} linear layer")
        if tuple(masks[i].shape) != shape:
            raise _corrupt(files["mask"], f"mask {i} has shape {tuple(masks[i].shape)}, expected {shape}")
        if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
            raise _corrupt(files["model"], f"layer {i + 1} holds non-finite values")
        mask = masks[i].detach().to("cpu") != 0
        weight_masks.append(mask)
        weights.append(w.detach().float() * mask)
        biases.append(b.detach().float().clone())
    return SculptedNetwork(
        sizes=list(cmd.arch), weights=weights, biases=biases, weight_masks=weight_masks,
        bias_masks=[torch.ones(len(b), dtype=torch.bool) for b in biases],
        info={"reference": cmd.to_dict()},
    )


def truth_table_accuracy(net: SculptedNetwork, task: Task) -> float:
    """The network's accuracy on the task's test set (the truth table for Boolean tasks)."""
    data = task.data("cpu")
    x = data.test_x
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        x = torch.nn.functional.linear(x, w, b)
        if i < net.n_layers - 1:
            x = torch.relu(x)
    return float(task.accuracy(x[None], data.test_y)[0])


# --------------------------------------------------------------------------- the pruner
def _grid_summary(grid: dict[tuple[str, tuple[int, ...], int], ReferenceCommand], paper_name: str) -> str:
    archs = sorted({"x".join(map(str, cmd.hidden)) for (name, _, _), cmd in grid.items() if name == paper_name},
                   key=lambda a: (a.count("x"), a))
    return ", ".join(archs)


class PublishedPruner(Pruner):
    """Yields the paper's own pruned network for a (task, architecture, seed index) from a reference checkout."""

    name = "published"
    version = "1.0"
    citation = "Patil, Michael & Dovrolis, NeurIPS 2023: the published networks of github.com/ShreyasMalakarjunPatil/Neural-Sculpting"
    #: The paper's networks are fixed: there is nothing to restart or choose from.
    protocol = False
    options = (Option("root", str, None, nullable=True,
                      help=f"The folder of a checkout of the reference repository (default: ${ROOT_ENV})."),)

    def resolve(self, user: Mapping[str, Any] | None = None, task: Mapping[str, Any] | None = None) -> Options:
        """``root`` (the option, else ``$SCULPTBENCH_REFERENCE_ROOT``), checked to be a checkout and made absolute."""
        user = dict(user or {})
        if user.get("root") is None and os.environ.get(ROOT_ENV):
            user["root"] = os.environ[ROOT_ENV]
        options = super().resolve(user, task)
        return Options({"root": str(check_root(options["root"]).resolve())}, given=options.given)

    def lookup(self, job: PruneJob) -> ReferenceCommand:
        """The command of ``job``'s network; raise :class:`SculptbenchError` naming the grid when there is none."""
        task = job.task
        paper_name = getattr(task, "paper_name", None)
        grid = _grid(job.params["root"])
        if not paper_name:
            raise SculptbenchError(f"published: task {task.name!r} has no paper_name, so the paper published no network for it")
        if not any(name == paper_name for name, _, _ in grid):
            raise SculptbenchError(f"published: the reference checkout has no network of {task.name!r} ({paper_name})")
        arch = "x".join(map(str, job.hidden))
        if not 0 <= job.cell_seed < len(REFERENCE_SEEDS):
            raise SculptbenchError(
                f"published: seed index {job.cell_seed} is outside the published grid: seeds 0-{len(REFERENCE_SEEDS) - 1} "
                f"(the reference's seeds {', '.join(map(str, REFERENCE_SEEDS))}); pass --seeds {len(REFERENCE_SEEDS)} or fewer"
            )
        cmd = grid.get((paper_name, tuple(job.sizes), REFERENCE_SEEDS[job.cell_seed]))
        if cmd is None:
            raise SculptbenchError(
                f"published: no network of {task.name!r} at {arch} seed index {job.cell_seed} is published; "
                f"the published architectures of this task are {_grid_summary(grid, paper_name)}"
            )
        return cmd

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """Load the published network; a job outside the grid gets a network with status ``error``."""
        try:
            cmd = self.lookup(job)
        except SculptbenchError as exc:
            return SculptedNetwork.failed(job.sizes, str(exc))
        net = load_network(cmd, job.params["root"])
        net.accuracy = net.test_accuracy = truth_table_accuracy(net, job.task)
        net.info["published_accuracy"] = net.accuracy
        return net


@hookimpl
def register_pruners(register):
    """Register the ``published`` pruner."""
    register(PublishedPruner())


__all__ = [
    "REFERENCE_SEEDS", "ROOT_ENV", "ReferenceCommand", "PublishedPruner", "TensorOnlyUnpickler",
    "check_root", "read_commands", "first_commands", "load_network", "truth_table_accuracy",
]
