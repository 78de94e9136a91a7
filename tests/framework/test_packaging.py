"""The wheel installs only the sculptbench namespace and ships the task YAML files and MNIST table."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_has_no_generic_top_level_packages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("sculptbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"sculptbench", next(t for t in top_level if t.endswith(".dist-info"))}
    assert not any(name.startswith(("plugins/", "tasks/")) for name in names)
    yaml_files = [n for n in names if n.startswith("sculptbench/tasks/") and n.endswith(".yaml")]
    assert len(yaml_files) == 39 + 7  # the paper's tasks and the classic family
    assert not any("paper_hparams" in name for name in names)  # one table: paper-hparams.csv holds the MNIST rows too
    assert "sculptbench/tasks/paper-hparams.csv" in names  # the paper's published settings (hparams=paper)
    assert "sculptbench/plugins/scorers/structure.py" in names
    sources = {f"sculptbench/{path.relative_to(ROOT / 'sculptbench').as_posix()}" for path in (ROOT / "sculptbench").rglob("*.py")}
    sources |= {f"sculptbench/plugins/{path.relative_to(ROOT / 'plugins').as_posix()}" for path in (ROOT / "plugins").rglob("*.py")}
    missing = sorted(sources - set(names))
    assert not missing, f"modules left out of the wheel (list their package in pyproject.toml): {missing}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sculptbench = sculptbench.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
