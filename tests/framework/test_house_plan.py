"""The house plan (issue 15), checked on the source text: no import cycle, no overlong module, no
block written twice, an example plugin that uses only the public API, and a documented API.

"The package" is the framework ``sculptbench/`` and the built-ins ``plugins/`` (installed as
``sculptbench.plugins``; ``tasks/``, installed as ``sculptbench.tasks``, holds data only).
Everything here reads files with ``ast`` and ``tokenize``; of sculptbench, only the API is imported.

- **Import cycles.** Every ``import`` and ``from ... import`` of a package module, at any depth
  (inside functions too), is an edge to the package module it names (the longest known prefix;
  ``from a import b`` is an edge to ``a.b`` when that is a module, else to ``a``). Any cycle
  fails, named with the lines that close it. Not edges: imports under ``if TYPE_CHECKING:``
  (annotations only, never run; a typed contract may name the types of a module that imports
  it), and modules loaded by a string (``importlib.import_module``, the plugin manager's
  built-in list).
- **Length.** A module over :data:`MAX_LINES` lines fails; there are no exemptions.
- **The wall.** A built-in (``plugins/``) imports of sculptbench only ``sculptbench.api`` and its
  own ``sculptbench.plugins`` modules, exactly as a third-party plugin would.
- **Layers.** The framework's subpackages are layered (:data:`LAYERS`): a module imports only
  modules of its own layer or below. The contracts import nothing above them, not even for
  annotations.
- **Blocks written twice.** Each module becomes a list of *shape lines*: tokens with every name
  (keywords kept), string and number replaced by a placeholder, after dropping comments, blank
  lines, import statements, docstrings (and other bare string statements) and lines of lone
  punctuation (``)``, ``],``). Any :data:`WINDOW` consecutive shape lines found again elsewhere in
  the package (or in the same module, not overlapping) fail, both places named by file and line.
  Declarations (one-line fields such as ``seed: int``, class headers with their decorators, and
  one-line class attributes such as ``name = "louvain"``) and data lines (literals only) match
  only when written the same: two records or components share that shape without sharing
  logic. The rule follows the ``duplicates`` tool's (same lines, or the same shape with other
  names, strings and numbers).
"""

from __future__ import annotations

import ast
import inspect
import io
import keyword
import re
import tokenize
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Source folder -> the package it is installed as (pyproject.toml, [tool.setuptools.package-dir]).
PACKAGE_DIRS = {"sculptbench": "sculptbench", "plugins": "sculptbench.plugins", "tasks": "sculptbench.tasks"}
EXAMPLE = Path("examples") / "sculptbench-example"
MAX_LINES = 600
#: The framework's layers, bottom first: a module imports only its own layer's and lower ones'.
#: The results store is storage (contracts only), below the run that writes it; the rest of
#: ``results`` (reports, plots) reads runs.
LAYERS = {
    "sculptbench.contracts": 0, "sculptbench.engine": 1, "sculptbench.paper": 1, "sculptbench.plugin": 2,
    "sculptbench.results.store": 2, "sculptbench.results.sqlite": 2, "sculptbench.run": 3, "sculptbench.results": 4, "sculptbench.api": 5, "sculptbench.cli": 6,
}
WINDOW = 6
_SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                   tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python >= 3.12 splits f-strings into parts
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


# --------------------------------------------------------------------------- the package's modules
def package_modules(root: Path) -> dict[str, Path]:
    """Installed module name -> source file, for every ``.py`` file of the package under ``root``."""
    modules = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


# --------------------------------------------------------------------------- import graph
def _known_prefix(name: str, known: set[str]) -> str | None:
    """The longest prefix of the dotted ``name`` that is a package module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """The package modules that ``tree`` (module ``module``) imports when it runs, each with its line."""
    found = []
    for node in _run_time_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(_known_prefix(alias.name, known), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"  # ``from a import b``: the module a.b, or a name in a
                found.append((name if name in known else _known_prefix(base, known), node.lineno))
    return [(target, line) for target, line in found if target and target != module]


def import_graph(root: Path) -> nx.DiGraph:
    """The package's import graph; each edge carries the first importing file and line."""
    modules = package_modules(root)
    known = set(modules)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, line in sorted(_imports(tree, module, path.name == "__init__.py", known), key=lambda edge: edge[1]):
            if not graph.has_edge(module, target):
                graph.add_edge(module, target, where=f"{_relative(root, path)}:{line}")
    return graph


def import_cycles(root: Path) -> list[str]:
    """One readable cycle per strongly connected group of modules, e.g. ``a -> b -> a (a.py:3, b.py:9)``."""
    graph = import_graph(root)
    found = []
    for group in nx.strongly_connected_components(graph):
        if len(group) < 2:
            continue
        cycle = nx.find_cycle(graph.subgraph(group), source=min(group))
        path = " -> ".join([cycle[0][0], *(b for _, b in cycle)])
        found.append(f"{path} ({', '.join(graph.edges[a, b]['where'] for a, b in cycle)})")
    return sorted(found)


# --------------------------------------------------------------------------- length
def overlong_modules(root: Path) -> list[str]:
    """Modules over :data:`MAX_LINES` lines."""
    found = []
    for path in package_modules(root).values():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES:
            found.append(f"{_relative(root, path)}: {count} lines")
    return sorted(found)


# --------------------------------------------------------------------------- the wall and the layers
def _all_imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Every absolute import of ``tree`` (annotation-only ones included), as ``(module, line)``;
    ``from a import b`` counts as ``a.b``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def wall_breaches(root: Path) -> list[str]:
    """Imports by a built-in of a sculptbench module other than the API and the built-ins."""
    found = []
    for path in sorted((root / "plugins").rglob("*.py")):
        for name, line in _all_imports(ast.parse(path.read_text(encoding="utf-8"))):
            allowed = name.startswith(("sculptbench.api.", "sculptbench.plugins.")) or name == "sculptbench.api"
            if (name == "sculptbench" or name.startswith("sculptbench.")) and not allowed:
                found.append(f"{_relative(root, path)}:{line} imports {name}")
    return found


def _layer(module: str) -> int | None:
    """The layer of ``module`` by its longest prefix in :data:`LAYERS`."""
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def layer_breaches(root: Path) -> list[str]:
    """Imports of a framework module from a layer above its own (for the contracts, also under
    ``TYPE_CHECKING``)."""
    found = []
    for module, path in package_modules(root).items():
        layer = _layer(module)
        if layer is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = _all_imports(tree) if layer == 0 else [
            (f"{n.module}.{a.name}" if isinstance(n, ast.ImportFrom) else a.name, n.lineno)
            for n in _run_time_nodes(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and not getattr(n, "level", 0)
            for a in n.names if not isinstance(n, ast.ImportFrom) or n.module
        ]
        for name, line in imports:
            target = _layer(name)
            if target is not None and target > layer:
                found.append(f"{_relative(root, path)}:{line} ({module}, layer {layer}) imports {name} (layer {target})")
    return sorted(found)


# --------------------------------------------------------------------------- blocks written twice
def _line_tokens(source: str, dropped: set[int]) -> dict[int, list[tuple[str, str]]]:
    """``(kind, text)`` tokens per line: kind ``name``, ``keyword``, ``string``, ``number`` or ``op``.

    Comments, layout tokens and the lines in ``dropped`` are left out; an f-string is one string.
    """
    tokens: dict[int, list[tuple[str, str]]] = defaultdict(list)
    fstring_depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        line = tok.start[0]
        if tok.type == _FSTRING_START:
            fstring_depth += 1
            if fstring_depth == 1 and line not in dropped:
                tokens[line].append(("string", tok.string))
        elif tok.type == _FSTRING_END:
            fstring_depth -= 1
        elif fstring_depth or tok.type in _SKIPPED_TOKENS or line in dropped:
            continue
        elif tok.type == tokenize.NAME and tok.string in ("True", "False", "None"):
            tokens[line].append(("number", tok.string))  # a value, like a number
        elif tok.type == tokenize.NAME:
            tokens[line].append(("keyword" if keyword.iskeyword(tok.string) else "name", tok.string))
        elif tok.type in (tokenize.STRING, tokenize.NUMBER):
            tokens[line].append(("string" if tok.type == tokenize.STRING else "number", tok.string))
        else:
            tokens[line].append(("op", tok.string))
    return tokens


PLACEHOLDERS = {"name": "N", "string": "S", "number": "0"}


def _declaration_lines(tree: ast.AST) -> set[int]:
    """Lines that declare rather than compute: one-line annotated assignments (a record's fields),
    class headers with their decorators, one-line assignments directly in a class body, and
    functions whose body is a docstring alone (hook specifications, abstract methods)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and node.lineno == node.end_lineno:
            lines.add(node.lineno)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and len(node.body) == 1 and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str):
            lines.update(range(min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno + 1))
        elif isinstance(node, ast.ClassDef):
            lines.add(node.lineno)
            for decorator in node.decorator_list:
                lines.update(range(decorator.lineno, decorator.end_lineno + 1))
            lines.update(item.lineno for item in node.body if isinstance(item, ast.Assign) and item.lineno == item.end_lineno)
    return lines


def shape_lines(source: str) -> list[tuple[int, str]]:
    """The shape lines of a module, as ``(line number, shape)``.

    A line becomes its tokens with names, strings and numbers (and ``True``, ``False``, ``None``)
    replaced by placeholders, so that it matches a line of the same shape. A line of lone
    punctuation is dropped. Two kinds of line keep their text and so match only the same line:
    data (literals and punctuation only, e.g. an entry of a list) and declarations
    (:func:`_declaration_lines`): two records or components that declare other fields or names
    share a shape but no logic.
    """
    tree = ast.parse(source)
    dropped: set[int] = set()
    for node in ast.walk(tree):
        bare_string = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if bare_string or isinstance(node, (ast.Import, ast.ImportFrom)):
            dropped.update(range(node.lineno, node.end_lineno + 1))
    declarations = _declaration_lines(tree)
    shapes = []
    for line, tokens in sorted(_line_tokens(source, dropped).items()):
        kinds = {kind for kind, _ in tokens}
        if kinds == {"op"}:
            continue
        literal = line in declarations or not kinds & {"name", "keyword"}
        shapes.append((line, " ".join(text if literal else PLACEHOLDERS.get(kind, text) for kind, text in tokens)))
    return shapes


def repeated_blocks(files: dict[str, str], window: int = WINDOW) -> list[str]:
    """Places where ``window`` or more shape lines repeat, as ``a.py:10-17 ~ b.py:40-47``.

    ``files`` maps a file's name to its source. Runs of overlapping windows are merged.
    """
    lines_of = {}
    index: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
    for name, source in files.items():
        lines = lines_of[name] = shape_lines(source)
        for i in range(len(lines) - window + 1):
            index[tuple(shape for _, shape in lines[i:i + window])].append((name, i))
    pairs = set()
    for places in index.values():
        for a, b in combinations(sorted(places), 2):
            if a[0] != b[0] or b[1] - a[1] >= window:
                pairs.add((a, b))
    found = []
    for a, b in sorted(pairs):
        if ((a[0], a[1] - 1), (b[0], b[1] - 1)) in pairs:
            continue  # not the start of its run
        length = window
        while ((a[0], a[1] + length - window + 1), (b[0], b[1] + length - window + 1)) in pairs:
            length += 1

        def span(place: tuple[str, int]) -> str:
            lines = lines_of[place[0]]
            return f"{place[0]}:{lines[place[1]][0]}-{lines[place[1] + length - 1][0]}"

        found.append(f"{span(a)} ~ {span(b)}")
    return found


def package_sources(root: Path) -> dict[str, str]:
    """Relative path -> source of every module of the package."""
    return {_relative(root, path): path.read_text(encoding="utf-8") for path in package_modules(root).values()}


# --------------------------------------------------------------------------- the example plugin
def non_api_imports(root: Path) -> list[str]:
    """Imports of sculptbench modules other than ``sculptbench.api`` in the example package."""
    found = []
    for path in sorted((root / EXAMPLE).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [(alias.name, f"import {alias.name}") for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [(node.module or "", f"from {node.module} import {', '.join(a.name for a in node.names)}")]
            else:
                continue
            for name, statement in names:
                if (name == "sculptbench" or name.startswith("sculptbench.")) and name != "sculptbench.api":
                    found.append(f"{_relative(root, path)}:{node.lineno}: {statement}")
    return found


# --------------------------------------------------------------------------- the tests
def test_no_import_cycle():
    cycles = import_cycles(ROOT)
    assert not cycles, "import cycles in the package:\n" + "\n".join(cycles)


def test_no_module_over_600_lines():
    overlong = overlong_modules(ROOT)
    assert not overlong, f"modules over {MAX_LINES} lines; split them:\n" + "\n".join(overlong)


def test_the_built_ins_import_only_the_public_api():
    found = wall_breaches(ROOT)
    assert not found, "built-ins must import sculptbench.api only (and their own sculptbench.plugins modules):\n" + "\n".join(found)


def test_no_framework_module_imports_from_a_layer_above_it():
    found = layer_breaches(ROOT)
    assert not found, "imports against the layers (contracts, engine/paper, plugin, run, results, api, cli):\n" + "\n".join(found)


def test_no_block_of_six_lines_written_twice():
    repeated = repeated_blocks(package_sources(ROOT))
    assert not repeated, f"blocks of {WINDOW}+ lines (same lines or same shape) written twice:\n" + "\n".join(repeated)


def test_the_example_plugin_imports_only_the_public_api():
    assert (ROOT / EXAMPLE / "sculptbench_example").is_dir()
    found = non_api_imports(ROOT)
    assert not found, "the example plugin must use sculptbench.api only:\n" + "\n".join(found)


def test_every_public_name_has_a_docstring():
    from sculptbench import api

    assert api.__doc__ and "internal" in api.__doc__, "api.py's docstring says everything else is internal"
    missing = []
    for name in api.__all__:
        target = inspect.unwrap(getattr(api, name))
        if inspect.isclass(target) or inspect.isfunction(target):
            doc = target.__dict__.get("__doc__") if inspect.isclass(target) else target.__doc__
            if not doc or not doc.strip() or doc.startswith(f"{target.__name__}("):  # a dataclass's generated doc
                missing.append(name)
    assert not missing, f"public names without a docstring: {missing}"


def test_every_public_name_is_documented():
    from sculptbench import api

    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [name for name in api.__all__ if not re.search(rf"`[^`]*\b{re.escape(name)}\b[^`]*`", text)]
    assert not missing, f"names of sculptbench.api that docs/plugins.md never mentions: {missing}"


# --------------------------------------------------------------------------- the checks can fail
def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    root = _write(tmp_path, {
        "sculptbench/__init__.py": "",
        "sculptbench/a.py": "from sculptbench import b\n",
        "sculptbench/b.py": "def f():\n    from sculptbench.plugins.c import g\n",
        "plugins/__init__.py": "",
        "plugins/c.py": "from ..a import x\n\ndef g():\n    pass\n",
        "sculptbench/d.py": "import sculptbench.a\nfrom sculptbench.api import hookimpl\n",
        "sculptbench/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sculptbench.f import F\n",
        "sculptbench/f.py": "from sculptbench.e import E\n",
    })
    assert import_cycles(root) == [
        "sculptbench.a -> sculptbench.b -> sculptbench.plugins.c -> sculptbench.a "
        "(sculptbench/a.py:1, sculptbench/b.py:2, plugins/c.py:1)"
    ]


def test_a_long_module_is_found_whatever_it_says(tmp_path):
    body = "x = 1\n" * MAX_LINES
    root = _write(tmp_path, {
        "sculptbench/long.py": '"""Doc."""\n' + body,
        "sculptbench/said.py": '"""Doc."""\n# Over 600 lines because it is a generated table\n' + body,
        "sculptbench/short.py": body,
    })
    assert overlong_modules(root) == [f"sculptbench/long.py: {MAX_LINES + 1} lines", f"sculptbench/said.py: {MAX_LINES + 2} lines"]


def test_a_built_in_reaching_past_the_api_is_found(tmp_path):
    root = _write(tmp_path, {
        "plugins/__init__.py": "",
        "plugins/good.py": "from sculptbench.api import Pruner\nfrom sculptbench.plugins.other import helper\n",
        "plugins/bad.py": "import torch\nfrom sculptbench.run.planning import plan\n\ndef f():\n    from sculptbench import paper\n",
    })
    assert wall_breaches(root) == ["plugins/bad.py:2 imports sculptbench.run.planning.plan", "plugins/bad.py:5 imports sculptbench.paper"]


def test_an_import_from_a_higher_layer_is_found(tmp_path):
    root = _write(tmp_path, {
        "sculptbench/__init__.py": "",
        "sculptbench/contracts/__init__.py": "",
        "sculptbench/contracts/types.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sculptbench.run.planning import Group\n",
        "sculptbench/run/__init__.py": "",
        "sculptbench/run/planning.py": "from sculptbench.contracts.types import X\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sculptbench.cli import main\n",
        "sculptbench/engine/__init__.py": "",
        "sculptbench/engine/kernels.py": "from sculptbench.run.planning import plan\n",
    })
    assert layer_breaches(root) == [
        "sculptbench/contracts/types.py:3 (sculptbench.contracts.types, layer 0) imports sculptbench.run.planning.Group (layer 3)",
        "sculptbench/engine/kernels.py:1 (sculptbench.engine.kernels, layer 1) imports sculptbench.run.planning.plan (layer 3)",
    ]


SHAPE_A = '''
def load(path, name):
    """Load one thing."""
    text = read(path, "utf-8")
    if not text:
        raise Error(f"{name}: empty")  # a comment
    data = parse(text, strict=True)
    return build(data, name)
'''
SHAPE_B = '''
import os


def save(target, label):
    body = read(target, "ascii")

    if not body:
        raise Failure(f"{label}: nothing to save")
    data = parse(body, strict=False)
    return build(data, label)
'''


def test_a_block_of_the_same_shape_is_found():
    assert repeated_blocks({"a.py": SHAPE_A, "b.py": SHAPE_B}) == ["a.py:2-8 ~ b.py:5-11"]
    assert repeated_blocks({"a.py": SHAPE_A + SHAPE_A.replace("load", "keep")}) == ["a.py:2-8 ~ a.py:10-16"]
    assert repeated_blocks({"a.py": SHAPE_A, "b.py": SHAPE_B.replace("strict=False", "strict=False, extra=1")}) == []


def test_lone_punctuation_does_not_make_a_block():
    five_and_punctuation = SHAPE_B.replace("    data = parse(body, strict=False)\n", "    (\n    )\n    [\n    ]\n")
    assert repeated_blocks({"a.py": SHAPE_A, "b.py": five_and_punctuation}) == []


def test_records_and_data_repeat_only_when_written_the_same():
    def record(name, fields):
        return f"@dataclass\nclass {name}:\n" + "".join(f"    {field}\n" for field in fields)

    ints = [f"a{i}: int" for i in range(8)]
    strs = [f"b{i}: str = 'x'" for i in range(8)]
    assert repeated_blocks({"r.py": record("A", ints) + record("B", strs)}) == []
    assert repeated_blocks({"r.py": record("A", ints) + record("B", ints)}) == ["r.py:3-10 ~ r.py:13-20"]
    attributes = ["name = 'one'", "version = '1'", "defaults = {}"]
    methods = ["def run(self):", "    return self.go(1)"]
    one = record("One", attributes + methods)
    assert repeated_blocks({"c.py": one + one.replace("'one'", "'two'").replace("One", "Two")}) == []
    data = "ITEMS = [\n" + "".join(f"    'item{i}',\n" for i in range(7)) + "]\n"
    assert repeated_blocks({"d.py": data, "e.py": data.replace("item3", "other")}) == []
    assert repeated_blocks({"d.py": data, "e.py": data.replace("ITEMS", "OTHER")}) == ["d.py:1-8 ~ e.py:1-8"]


def test_an_example_importing_internals_is_caught(tmp_path):
    root = _write(tmp_path, {
        f"{EXAMPLE}/sculptbench_example/plugin.py": "from sculptbench.api import hookimpl\nfrom sculptbench_example import x\n",
        f"{EXAMPLE}/sculptbench_example/pruner.py": "def f():\n    from sculptbench import engine\n    import sculptbench.contracts\n",
    })
    assert non_api_imports(root) == [
        f"{EXAMPLE.as_posix()}/sculptbench_example/pruner.py:2: from sculptbench import engine",
        f"{EXAMPLE.as_posix()}/sculptbench_example/pruner.py:3: import sculptbench.contracts",
    ]


@pytest.mark.parametrize("name", ["sculptbench", "plugins", "tasks"])
def test_package_dirs_match_pyproject(name):
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"{PACKAGE_DIRS[name]}" = "{name}"' in pyproject
