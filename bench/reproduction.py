"""Regenerate the marked blocks of the results pages (docs/results/) by running the commands they show.

A section is a block of one results page between ``<!-- reproduction.py: ID -->`` and
``<!-- end reproduction.py: ID -->``; each section knows its page. This script owns everything
inside: the commands (in a ``bash`` fence), the output of each report command, the side-by-side
table with the paper where the section has one, and a last line with the date, the wall time, the
peak memory of the heaviest command and the machine. Prose outside the markers is the writer's.
Runs happen in ``--workdir`` (the results databases stay there, so a second call resumes finished
cells and only re-renders).

    python bench/reproduction.py --list         # every section, its page and its commands
    python bench/reproduction.py --only exemplars-8,exemplars-72 [--workdir DIR] [--dry-run]
    python bench/reproduction.py --check        # every block in docs/ is a section here, on its page, and back
    python bench/reproduction.py --only paper-networks --reference-root ../Neural-Sculpting

Sections that read the reference's published networks need ``--reference-root`` (a checkout of
github.com/ShreyasMalakarjunPatil/Neural-Sculpting). Without ``--only`` every section runs: about
half an hour on 2 cores, plus the authors' whole grid (each block's last line gives its own time).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exemplar_rules import PAPER  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: Where the docs are (every page is searched for blocks) and where the results pages are.
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
BEGIN = "<!-- reproduction.py: {} -->"
END = "<!-- end reproduction.py: {} -->"
EXEMPLARS = ("input-separable", "reused", "both", "none")
#: The paper's reuse figure (read from the published figure): success by (hidden layers, m), its x
#: axis being the uses of each sub-function, m/2.
PAPER_REUSE = {
    (1, 2): 0.00, (1, 4): 0.00, (1, 8): 0.00, (1, 12): 0.00, (1, 16): 0.00,
    (2, 2): 0.58, (2, 4): 0.92, (2, 8): 1.00, (2, 12): 1.00, (2, 16): 1.00,
    (3, 2): 0.67, (3, 4): 0.75, (3, 8): 0.83, (3, 12): 0.83, (3, 16): 0.92,
}
#: The matrix and vector kernels of a CPU without AVX-512, on this one (MKL picks its kernels by
#: MKL_ENABLE_INSTRUCTIONS, torch's own by ATEN_CPU_CAPABILITY).
AVX2 = "MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2"


@dataclass(frozen=True)
class Section:
    """One regenerated block: commands run in order; the stdout of those in ``shown`` goes in."""

    id: str
    #: The results page under docs/results/ that holds the block.
    page: str
    commands: tuple[str, ...]
    shown: tuple[int, ...] = ()
    #: A line put before a shown command's output, by command index (what the table is).
    titles: dict[int, str] = field(default_factory=dict)
    #: (database A, label A, database B, label B, pruner): exemplar success per bar in both.
    compare: tuple[str, str, str, str, str] | None = None
    #: (database, family) for a side-by-side table of the reuse family with the paper's figure.
    reuse_table: tuple[str, str] | None = None
    #: (database, {report field: value}) for a side-by-side table of exemplar success with the
    #: paper, from the rows whose fields have those values.
    paper_table: tuple[str, dict[str, str]] | None = None
    #: The commands the block on its page was measured with, where they differ from ``commands``
    #: only by an option's earlier name (the page says so beside the block); empty: ``commands``.
    ran_as: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        """The results page that holds this section's block."""
        return RESULTS / self.page


def _run(db: str, *args: str) -> str:
    return f"sculptbench run {' '.join(args)} --results {db} --quiet"


#: The automatic rule that the default one replaced: nine (P_u, P_e) pairs from one
#: initialisation, sparsest kept, our loop.
EARLIER_RULE = ('--param iterative.select=sparsest --param iterative.loop=ours --param iterative.restarts=1 '
                '--param "iterative.auto_unit_steps=[30,50,70]" --param "iterative.auto_edge_steps=[0.5,1.5,2.5]" --jobs 2')
PAPER4 = "--tasks bool/both,bool/reused --arch 24x24,24x24x24 --seeds 4 --param iterative.hparams=paper --detectors sculpting"

#: How the page names the reference checkout; ``--reference-root`` replaces it when commands run.
REFERENCE = "../Neural-Sculpting"

SECTIONS = {s.id: s for s in [
    Section("paper-networks", "paper-networks.md", (
        f"python bench/paper_networks.py --reference-root {REFERENCE} --jobs 2 --json paper-networks.json",
    ), shown=(0,)),
    Section("published", "paper-networks.md", (
        _run("published.db", f"--tasks exemplars --arch 24,24x24,24x24x24 --pruners published --detectors sculpting,louvain "
                             f"--seeds 4 --param published.root={REFERENCE}"),
        "sculptbench report --results published.db --columns task-depth --no-secondary",
    ), shown=(1,)),
    Section("published-levels", "paper-networks.md", (
        _run("levels.db", "--tasks 'bool/levels-m4,bool/levels-m8,bool/levels-m12,bool/levels-m16' "
                          "--arch 36x36,48x48,60x60,36x36x36,48x48x48,60x60x60,36x36x36x36,48x48x48x48,60x60x60x60 "
                          f"--pruners published --detectors sculpting --seeds 4 --param published.root={REFERENCE}"),
        "sculptbench report --results levels.db --metric success_at_depth --group-by depth:m --no-secondary",
    ), shown=(1,)),
    Section("exemplars-8", "exemplars.md", (
        _run("repro-exemplars.db", "--tasks exemplars --pruners iterative --detectors sculpting,louvain --seeds 8 --jobs 2"),
        "sculptbench report --results repro-exemplars.db --group-by pruner,detector,task:depth --no-secondary",
    ), shown=(1,), paper_table=("repro-exemplars.db", {"detector": "sculpting"})),
    Section("exemplars-72", "exemplars.md", (
        _run("many-seeds.db", "--tasks exemplars --seeds 72 --jobs 2"),
        _run("many-seeds.db", "--tasks exemplars --seeds 72 --jobs 2 --param iterative.select=sparsest"),
        "sculptbench report --results many-seeds.db --group-by pruner,task:depth --no-secondary",
    ), shown=(2,), paper_table=("many-seeds.db", {"pruner": "iterative[sparsest_modularity]"})),
    Section("wide", "exemplars.md", (
        _run("wide.db", "--tasks bool/reused,bool/both --arch 36x36,48x48,36x36x36,48x48x48 --seeds 24 --jobs 2"),
        "sculptbench report --results wide.db --group-by task:arch --no-secondary",
    ), shown=(1,)),
    Section("kernels", "exemplars.md", (
        _run("many-seeds.db", "--tasks exemplars --seeds 72 --jobs 2"),
        f"{AVX2} " + _run("many-seeds-avx2.db", "--tasks exemplars --seeds 72 --jobs 2 --no-cache"),
    ), compare=("many-seeds.db", "AVX-512", "many-seeds-avx2.db", "AVX2", "iterative[sparsest_modularity]")),
    Section("earlier-rule", "selection-rules.md", (
        _run("earlier-rule.db", "--tasks bool/reused,bool/input-separable,bool/none --arch 24x24,24x24x24 --seeds 72 " + EARLIER_RULE),
        _run("earlier-rule.db", "--tasks bool/both --arch 24x24,24x24x24 --seeds 72 --epochs 60 " + EARLIER_RULE),
        "sculptbench report --results earlier-rule.db --group-by task:depth --no-secondary",
    ), shown=(2,), ran_as=(
        _run("earlier-rule.db", "--tasks bool/reused,bool/input-separable,bool/none --arch 24x24,24x24x24 --seeds 72 "
             + EARLIER_RULE.replace("iterative.restarts=1", "iterative.auto_restarts=1")),
        _run("earlier-rule.db", "--tasks bool/both --arch 24x24,24x24x24 --seeds 72 --epochs 60 "
             + EARLIER_RULE.replace("iterative.restarts=1", "iterative.auto_restarts=1")),
        "sculptbench report --results earlier-rule.db --group-by task:depth --no-secondary",
    )),
    Section("paper4", "authors-rule.md", (
        _run("paper4.db", f"{PAPER4} --no-cache"),
        _run("paper4ref.db", f"{PAPER4} --param iterative.loop=reference --no-cache"),
        "sculptbench report --results paper4.db --group-by task:arch --no-secondary",
        "sculptbench report --results paper4ref.db --group-by task:arch --no-secondary",
    ), shown=(2, 3), titles={2: "`loop=ours`:", 3: "`loop=reference`:"}),
    Section("paper-loop", "selection-rules.md", (
        "python bench/paper_loop.py --task bool/both --arch 24x24x24 --seeds 48 --lr 0.05 --batch-size 32 --epochs 15 --loops ours,reference",
        "python bench/paper_loop.py --task bool/both --arch 24x24x24 --seeds 48 --hparams auto --loops ours,reference",
        "python bench/paper_loop.py --task bool/reused --arch 24x24 --seeds 48 --lr 0.1 --batch-size 8 --epochs 40 --loops ours,reference",
        "python bench/paper_loop.py --task bool/reused --arch 24x24 --seeds 48 --hparams auto --loops ours,reference",
        "python bench/paper_loop.py --task bool/reused --arch 24x24 --seeds 48 --hparams auto --lr 0.1 --batch-size 8 --epochs 40 --loops ours,reference",
    ), shown=(0, 1, 2, 3, 4)),
    Section("authors-grid", "authors-rule.md", (
        _run("authors-grid.db", "--tasks exemplars,reuse,overlap,levels --arch paper --seeds 4 --param iterative.hparams=authors "
                                "--jobs 2 --no-cache"),
        f"python bench/paper_networks.py --reference-root {REFERENCE} --jobs 2 --ours authors=authors-grid.db",
    ), shown=(0, 1)),
    Section("exemplar-rules", "selection-rules.md", (
        "python bench/exemplar_rules.py --seeds 24 --json exemplar-rules.json",
    ), shown=(0,)),
    Section("exemplar-rules-our-loop", "selection-rules.md", (
        "python bench/exemplar_rules.py --seeds 24 --default-loop ours",
    ), shown=(0,)),
    Section("every-task", "families.md", (
        _run("repro-all.db", "--tasks all --pruners iterative --detectors sculpting --seeds 4 --jobs 2"),
    ), shown=(0,)),
    Section("reuse", "families.md", (
        "sculptbench report --results repro-all.db --tasks reuse --group-by depth:m --no-secondary",
    ), shown=(0,), reuse_table=("repro-all.db", "reuse")),
    Section("overlap", "families.md", tuple(
        f"sculptbench report --results repro-all.db --tasks overlap --metric {metric} --group-by o:u --no-secondary"
        for metric in ("input_separability", "hidden_separability", "output_grouping", "success")
    ), shown=(0, 1, 2, 3), titles={
        0: "Input separability (paper: rows 0-2 about 1.00; row 3 0.64-0.89; row 4 0.89-1.00):",
        1: "Hidden-unit separability (paper: rows 0-2 1.00; row 3 0-0.06; row 4 0-0.17):",
        2: "Output sub-function grouping (paper: rows 0-1 1.00; row 2 0.97-1.00; row 3 0.58-0.72; row 4 0.25-0.61):",
        3: "All modules recovered (no paper figure; for reference):",
    }),
    Section("levels", "families.md", tuple(
        f"sculptbench report --results repro-all.db --tasks levels --metric {metric} --group-by depth:m --no-secondary"
        for metric in ("success", "input_separability", "output_grouping", "hidden_separability")
    ), shown=(0, 1, 2, 3), titles={
        0: "All modules recovered (paper, x = uses 2/4/6/8 = m 4/8/12/16: depth 2: 1.00, 1.00, 1.00, 0.83; "
           "depth 3: 0.50, 0.83, 1.00, 1.00; depth 4: 0.75, 0.92, 1.00, 1.00):",
        1: "Input-separable sub-functions a and b (input separability; paper 1.00 at every depth):",
        2: "Output sub-functions p and q (output grouping; paper: depth 2: 0, depth 3: 0.92, depth 4: 0.92):",
        3: "Every module with its exact inputs and outputs (hidden separability):",
    }),
]}
#: Sections that read a database another section writes.
NEEDS = {"reuse": "every-task", "overlap": "every-task", "levels": "every-task"}


def fail(message: str) -> None:
    """One ``error:`` line on stderr and exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def machine() -> str:
    """CPU model, cores, Python and torch versions: tables move between machines (torch CPU kernels)."""
    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = found.group(1).strip() if found else model
    capability = torch.backends.cpu.get_cpu_capability()
    return (f"{model} ({capability}), {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__.split('+')[0]}")


def run_command(command: str, workdir: Path, reference: Path | None = None) -> tuple[str, float, int]:
    """Run ``command`` in ``workdir``: its stdout, wall seconds and peak RSS in MB (its process tree's
    largest). A failing command stops the script with its stderr."""
    if reference is not None:
        command = command.replace(REFERENCE, shlex.quote(str(reference)))
    argv = shlex.split(command)
    env = dict(os.environ)
    while "=" in argv[0]:  # VAR=value prefixes, as a shell takes them
        key, _, value = argv.pop(0).partition("=")
        env[key] = value
    if argv[0] == "python" and argv[1].startswith("bench/"):  # this checkout's bench, this interpreter
        argv[:2] = [sys.executable, str(ROOT / argv[1])]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            fail(f"`{command}` failed ({proc.returncode}): {err.read().decode().strip()[-800:]}")
        return out.read().decode(), seconds, usage.ru_maxrss // 1024


def beside_paper(means: dict, paper: dict, depths: list[int], columns: list, headers: list[str]) -> list[str]:
    """Markdown rows: per hidden-layer count, ours beside the paper's value for each column, bold
    where they are more than 0.2 apart. ``means`` and ``paper`` are keyed by (depth, column)."""
    lines = ["| hidden layers | " + " | ".join(headers) + " |", "|---" * (len(columns) + 1) + "|"]
    for depth in depths:
        cells = []
        for column in columns:
            ours, theirs = means.get((depth, column)), paper[(depth, column)]
            value = "-" if ours is None else f"{ours:.2f}"
            if ours is not None and abs(ours - theirs) > 0.2 + 1e-9:
                value = f"**{value}**"
            cells.append(f"{value} (paper {theirs:.2f})")
        lines.append(f"| {depth} | " + " | ".join(cells) + " |")
    return lines


def paper_table(workdir: Path, db: str, where: dict[str, str]) -> str:
    """Exemplar success per (hidden layers, task) beside the paper's bar, from the report rows whose
    fields match ``where``; bold: more than 0.2 from the paper."""
    group = ",".join([*where, "task"]) + ":depth"
    text, _, _ = run_command(f"sculptbench report --results {db} --group-by {group} --format csv", workdir)
    means = {}
    for row in csv.DictReader(io.StringIO(text)):
        if all(row[key] == value for key, value in where.items()):
            means[(int(row["column"].lstrip("L")), row["task"])] = float(row["mean"])
    paper = {(depth, task): value for (task, depth), value in PAPER.items()}
    lines = beside_paper(means, paper, [1, 2, 3], list(EXEMPLARS), list(EXEMPLARS))
    rows = ", ".join(f"{key} {value}" for key, value in where.items())
    return f"Side by side with the paper ({rows}; bold: more than 0.2 from the paper):\n\n" + "\n".join(lines)


def reuse_table(workdir: Path, db: str, family: str) -> str:
    """The reuse family's success per (hidden layers, m) beside the paper's figure."""
    text, _, _ = run_command(f"sculptbench report --results {db} --tasks {family} --group-by depth:m --format csv", workdir)
    means = {(int(row["depth"]), int(row["m"])): float(row["mean"]) for row in csv.DictReader(io.StringIO(text))}
    ms = sorted({m for _, m in PAPER_REUSE})
    lines = beside_paper(means, PAPER_REUSE, sorted({d for d, _ in PAPER_REUSE}), ms, [f"{m // 2} (m={m})" for m in ms])
    return ("Side by side with the paper, whose x axis is the uses of each sub-function, m/2 (bold: more than "
            "0.2 from the paper):\n\n" + "\n".join(lines))


def success_by_bar(path: Path, pruner: str) -> dict[tuple[str, int, int], float]:
    """Success (0 for an untrainable cell) of every (task, depth, seed) of ``pruner`` in a database."""
    from sculptbench.results.store import ResultsStore

    store = ResultsStore(path, create=False)
    try:
        cells = store.summary_cells(timings=False)
    finally:
        store.close()
    return {(c.task.split("/")[-1], c.depth, c.seed): float(c.metrics.get("structure.success") or 0.0)
            for c in cells if c.pruner == pruner and c.status in ("ok", "untrainable")}


def kernel_table(workdir: Path, db_a: str, label_a: str, db_b: str, label_b: str, pruner: str) -> str:
    """Exemplar success per bar from two databases of the same command, at all seeds and at the
    first 8, with the differences: how far a table moves when only the kernels change."""
    a, b = success_by_bar(workdir / db_a, pruner), success_by_bar(workdir / db_b, pruner)
    if set(a) != set(b):
        fail(f"{db_a} and {db_b} hold different cells; rerun the section")
    seeds = sorted({key[2] for key in a})
    lines = [f"| bar | {label_a}, {len(seeds)} seeds | {label_b} | difference | {label_a}, seeds 0-7 | {label_b} | difference |",
             "|---|---|---|---|---|---|---|"]
    moves = {len(seeds): [], 8: []}
    for task in EXEMPLARS:
        for depth in (1, 2, 3):
            row = [f"{task} L{depth}"]
            for n in (len(seeds), 8):
                keys = [(task, depth, s) for s in seeds[:n]]
                mean_a, mean_b = (sum(d[k] for k in keys) / len(keys) for d in (a, b))
                moves[n].append(abs(mean_a - mean_b))
                row += [f"{mean_a:.2f}", f"{mean_b:.2f}", f"{mean_b - mean_a:+.2f}"]
            lines.append("| " + " | ".join(row) + " |")
    differ = sum(a[k] != b[k] for k in a)
    summary = (f"Networks whose success differs: {differ} of {len(a)}. Largest move of a bar: "
               f"{max(moves[len(seeds)]):.2f} at {len(seeds)} seeds (mean {sum(moves[len(seeds)]) / 12:.2f}), "
               f"{max(moves[8]):.2f} at 8 seeds (mean {sum(moves[8]) / 12:.2f}).")
    return "\n".join(lines) + "\n\n" + summary


def regenerate(section: Section, workdir: Path, reference: Path | None = None) -> str:
    """Run a section's commands and return the markdown that goes between its markers."""
    parts = ["```bash", *section.commands, "```", ""]
    total, peak, timed = 0.0, 0, []
    for i, command in enumerate(section.commands):
        print(f"[{section.id}] {command}", flush=True)
        out, seconds, rss = run_command(command, workdir, reference)
        total += seconds
        peak = max(peak, rss)
        timed.append(f"{seconds:.1f} s")
        if i in section.shown:
            out = out if reference is None else out.replace(str(reference), REFERENCE)
            parts += [section.titles[i], ""] if i in section.titles else []
            parts += [demote_headings(out.strip()), ""]
    if section.reuse_table:
        parts += [reuse_table(workdir, *section.reuse_table), ""]
    if section.compare:
        parts += [kernel_table(workdir, *section.compare), ""]
    if section.paper_table:
        parts += [paper_table(workdir, *section.paper_table), ""]
    commands = "; ".join(timed)
    parts.append(f"*Regenerated by `python bench/reproduction.py --only {section.id}` on {date.today().isoformat()}: "
                 f"{total:.1f} s wall ({commands}), peak RSS {peak} MB; {machine()}; "
                 f"load average before {os.getloadavg()[0]:.2f}.*")
    return "\n".join(parts)


def demote_headings(text: str, levels: int = 2) -> str:
    """A bench's markdown headings two levels down, to sit under the page's own."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", text, flags=re.M)


def replace_block(page: str, section_id: str, body: str, where: str = "the page") -> str:
    """``page`` (the text of the file named ``where``) with the block of ``section_id`` holding ``body``."""
    begin, end = BEGIN.format(section_id), END.format(section_id)
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(page):
        fail(f"{where} has no block '{begin}' ... '{end}'; add the markers where the section goes")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", page, count=1)


def blocks_on_page(page: str) -> list[str]:
    """Ids of the marked blocks on the page, in order (a marker is a line of its own; one quoted in
    prose is not a block)."""
    return re.findall(r"^<!-- reproduction\.py: ([\w-]+) -->$", page, re.M)


def block_body(page: str, section_id: str) -> str | None:
    """What lies between the markers of ``section_id`` on ``page`` (``None``: no such block)."""
    found = re.search(re.escape(BEGIN.format(section_id)) + r"\n(.*?)" + re.escape(END.format(section_id)), page, re.S)
    return found.group(1) if found else None


def block_problems(docs: Path, sections: dict[str, Section]) -> list[str]:
    """What is wrong between the blocks of the pages under ``docs`` and ``sections``: a block no
    section owns, a section whose page lacks its block, a block on another page than its section's,
    a block twice or without its end marker. Empty when every block is a section, on its page, once."""
    problems, seen = [], {}
    for path in sorted(docs.rglob("*.md")):
        text = path.read_text()
        name = path.relative_to(docs).as_posix()
        for sid in blocks_on_page(text):
            seen.setdefault(sid, []).append(name)
            if text.count(END.format(sid)) != 1:
                problems.append(f"{name}: block {sid} has {text.count(END.format(sid))} end markers")
    for sid, names in sorted(seen.items()):
        section = sections.get(sid)
        if section is None:
            problems.append(f"{', '.join(names)}: block {sid} is no section of bench/reproduction.py")
        elif names != [f"results/{section.page}"]:
            problems.append(f"block {sid} is on {', '.join(names)}; its section's page is results/{section.page}")
    for sid, section in sections.items():
        if sid not in seen:
            problems.append(f"results/{section.page} has no block {sid}")
    return problems


def main() -> None:
    """Parse the options and regenerate the chosen sections in place."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated section ids (default: all)")
    parser.add_argument("--workdir", default="reproduction-runs", help="where the databases go (created)")
    parser.add_argument("--list", action="store_true", help="list the sections and their commands")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--reference-root", help=f"a checkout of the reference repository (the page's {REFERENCE})")
    parser.add_argument("--check", action="store_true", help="every block on the page is a section here, and back")
    args = parser.parse_args()
    if args.check:
        problems = block_problems(DOCS, SECTIONS)
        if problems:
            fail("; ".join(problems))
        print(f"{len(SECTIONS)} sections, each on its page once: {', '.join(sorted({s.page for s in SECTIONS.values()}))}")
        return
    if args.list:
        for section in SECTIONS.values():
            print(f"{section.id} (docs/results/{section.page}):\n  " + "\n  ".join(section.commands))
        return
    chosen = list(SECTIONS) if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        fail(f"unknown section {', '.join(unknown)}; known: {', '.join(SECTIONS)} (see --list)")
    workdir = Path(args.workdir).resolve()
    missing = [s for s in chosen if s in NEEDS and NEEDS[s] not in chosen and not (workdir / "repro-all.db").exists()]
    if missing:
        fail(f"{', '.join(missing)} read the database of '{NEEDS[missing[0]]}'; add it to --only")
    reference = Path(args.reference_root).resolve() if args.reference_root else None
    needing = [s for s in chosen if any(REFERENCE in c for c in SECTIONS[s].commands)]
    if needing and reference is None:
        fail(f"{', '.join(needing)} read the reference's networks: pass --reference-root DIR, a checkout of "
             "https://github.com/ShreyasMalakarjunPatil/Neural-Sculpting (commit dae13ab)")
    if needing and not (reference / "results").is_dir():
        fail(f"--reference-root {args.reference_root} has no results/ folder: point it at a checkout of the reference repository")
    if args.dry_run:
        for sid in chosen:
            print("\n".join(SECTIONS[sid].commands))
        return
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; workdir {workdir}", flush=True)
    for sid in chosen:
        path = SECTIONS[sid].path
        body = regenerate(SECTIONS[sid], workdir, reference)
        path.write_text(replace_block(path.read_text(), sid, body, where=str(path.relative_to(ROOT))))
        print(f"{path.relative_to(ROOT)}: {body.splitlines()[-1]}", flush=True)


if __name__ == "__main__":
    main()
