"""The package's import graph, read from the source (top-level and in-function imports alike): no cycles,
and the bottom layer imports nothing above it. A move that breaks a layer fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
# Facts everything else reads; each may import only from this set.
BOTTOM = {"contract", "errors", "signals.filters", "optional", "paths", "atomic", "run_dir"}
# (importer prefix, what it must never import): the DSP core and the models stay below the product.
FORBIDDEN = [
    ("edge_rppg.signals.filters", "edge_rppg.signals.hr"),
    ("edge_rppg.signals.hr", "edge_rppg.signals.metrics"),
    ("edge_rppg.signals.hr", "edge_rppg.signals.vitals"),
    ("edge_rppg.models", "edge_rppg.train"),
    ("edge_rppg.models", "edge_rppg.cli"),
    ("edge_rppg.runtimes", "edge_rppg.exporters"),
    # predict's seams: the pipeline knows nothing of vitals, vitals nothing of files, GUI or CLI.
    ("edge_rppg.predict.pipeline", "edge_rppg.predict.video"),
    ("edge_rppg.predict.video", "edge_rppg.predict.live"),
    ("edge_rppg.predict.video", "edge_rppg.cli"),
    ("edge_rppg.exporters", "edge_rppg.predict"),
    # the signal processing knows no video, model or runtime; the video and dataset readers know no predict.
    ("edge_rppg.signals", "edge_rppg.predict"),
    ("edge_rppg.signals", "edge_rppg.data"),
    ("edge_rppg.signals", "edge_rppg.runtimes"),
    ("edge_rppg.signals", "edge_rppg.methods"),
    ("edge_rppg.data", "edge_rppg.predict"),
    # a gate is a record; a runtime's metadata reader finds a model file's (runtimes/metadata.for_model_file)
    ("edge_rppg.gate", "edge_rppg.runtimes"),
]


def _modules() -> dict[str, Path]:
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    mods = {}
    for package, folder in dirs.items():
        for f in (ROOT / folder).rglob("*.py"):
            parts = [p for p in f.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([package, *parts])] = f
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, f in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read_from_the_source() -> None:
    graph = _graph()
    assert "edge_rppg.signals.hr" in graph["edge_rppg.signals.metrics"]  # a known edge: the check sees real imports
    assert "edge_rppg.optional" in graph["edge_rppg.runtimes.tensorrt_runtime"]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_bottom_layer_imports_only_the_bottom_layer() -> None:
    graph = _graph()
    bottom = {f"edge_rppg.{m}" for m in BOTTOM}
    above = {m: sorted(graph[m] - bottom - {"edge_rppg"}) for m in bottom}
    assert all(not deps for deps in above.values()), above


def test_layers_are_one_way() -> None:
    graph = _graph()
    bad = [
        (m, d) for m, deps in graph.items() for d in deps for a, b in FORBIDDEN if m.startswith(a) and d.startswith(b)
    ]
    assert bad == []


MAX_BODY_LINES = 50


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end: a Typer command's options are its
    declaration (one per line, nothing runs there), the steps are what a long function hides."""
    body = fn.body[1:] if ast.get_docstring(fn) is not None and len(fn.body) > 1 else fn.body
    return (fn.end_lineno or fn.lineno) - body[0].lineno + 1


def test_no_function_is_longer_than_fifty_lines() -> None:
    long = [
        f"{name}.{node.name}: {_body_lines(node)}"
        for name, f in _modules().items()
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_BODY_LINES
    ]
    assert long == []


def test_benchmarks_is_one_package_imported_one_way() -> None:
    """No module of benchmarks/ or tests/ edits sys.path: the benchmarks import as ``benchmarks.NAME``, and time
    through ``edge_rppg.timing`` (no second copy of a p50 timer)."""
    files = [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tests").glob("*.py")]
    assert (ROOT / "benchmarks" / "__init__.py").exists()
    edits = [
        f"{f.name}:{node.lineno}"
        for f in files
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys"
    ]
    timers = [
        f"{f.name}:{node.name}"
        for f in (ROOT / "benchmarks").glob("*.py")
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, ast.FunctionDef) and "p50" in node.name
    ]
    assert edits == [] and timers == []


MAX_POSITIONAL_FIELDS = 3


def test_records_of_more_than_three_fields_are_built_by_keyword() -> None:
    """A dataclass with more than three fields is keyword-only: ``Run(results, track, frames, ...)`` by position
    silently swaps two counts when a field is added."""

    def kw_only(node: ast.ClassDef) -> bool | None:
        for d in node.decorator_list:
            if isinstance(d, ast.Name) and d.id == "dataclass":
                return False
            if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "dataclass":
                return any(k.arg == "kw_only" and getattr(k.value, "value", None) is True for k in d.keywords)
        return None  # not a dataclass

    positional = [
        f"{name}.{node.name}"
        for name, f in _modules().items()
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, ast.ClassDef)
        and kw_only(node) is False
        and sum(isinstance(s, ast.AnnAssign) for s in node.body) > MAX_POSITIONAL_FIELDS
    ]
    assert positional == []
