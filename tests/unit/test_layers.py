"""The house has layers, drawn from the code's own imports: no import points up, and none goes round in a circle.

Every module of the packages (``inspector``, ``hmi``, ``plc_io``, ``camera_drivers``, ``calibration``;
``benchmarks/`` and ``tests/`` are outside the house) is parsed with :mod:`ast`, and every import in it counts:
at the top of the module, inside a function or a method, inside ``try``, and under ``if TYPE_CHECKING:`` (a name
in an annotation is still something the module needs to be read; the line does not care that it is not
executed). ``from a.b import c`` depends on the module ``a.b.c`` when there is one, otherwise on ``a.b``;
relative imports are resolved. What does not count: the parent package's ``__init__`` that Python runs before
a submodule (its machinery, not a dependency the module chose), and imports made by name at run time
(``importlib``: the camera drivers' table in ``camera_drivers/base.py`` names modules of its own package only).

Each module gets a layer from :data:`LAYERS` (one table, drawn as the picture in ``docs/architecture.md``). An
import may point down or sideways, never up; and no chain of imports may lead from a module back to itself,
within a folder as much as across folders. A failure names the import chain with file and line.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("inspector", "hmi", "plc_io", "camera_drivers", "calibration")
DOC = REPO / "docs" / "architecture.md"
PICTURE_START, PICTURE_END = "<!-- layers: drawn from tests/unit/test_layers.py -->", "<!-- /layers -->"

#: The layers, lowest first: (name, what lives there, the files and folders in it). A module's layer is the
#: entry naming its file, else the longest folder containing it. A new module outside every folder here needs
#: a line (the test says so).
LAYERS: list[tuple[str, str, tuple[str, ...]]] = [
    ("foundation", "errors, typed values, the line's messages, the station's config", (
        "inspector/__init__.py", "inspector/errors.py", "inspector/bounded.py", "inspector/typed.py",
        "inspector/file_modes.py", "inspector/netutil.py", "inspector/socket_holders.py", "inspector/part_ids.py",
        "inspector/process_guard.py", "inspector/systemd_notify.py", "inspector/messages.py", "inspector/message_refusals.py",
        "inspector/config/",
    )),
    ("plumbing and records", "transport, channels, keys, the registry of services; the line's tables, alarms, audit", (
        "inspector/transport.py", "inspector/channels.py", "inspector/connection_watch.py", "inspector/line_keys.py",
        "inspector/frame_ring.py", "inspector/observer_feed.py", "inspector/service_registry.py", "inspector/service_logs.py",
        "inspector/records/", "inspector/audit.py", "inspector/alarms/", "inspector/synthetic/",
    )),
    ("the line's parts", "engine and model families, model trust, cameras, PLC, calibration, plant links", (
        "inspector/engine/", "inspector/image_gate.py", "inspector/model_signing.py", "inspector/model_pins.py",
        "inspector/model_trust.py",
        "camera_drivers/", "plc_io/", "calibration/", "inspector/plant/",
    )),
    ("model and line work", "datasets, training, evaluation, model operations; actuator and recorder internals", (
        "inspector/evaluation.py", "inspector/datasets_tool/", "inspector/training/", "inspector/modelops/",
        "inspector/actuator/", "inspector/recorder/",
    )),
    ("services", "the line's processes: camera, detector, actuator, recorder, publisher", (
        "inspector/services/",
    )),
    ("station", "supervisor, install, the line run in-process, OPC UA server, shift reports", (
        "inspector/supervisor.py", "inspector/line_setup.py", "inspector/line_runner.py", "inspector/line_summary.py",
        "inspector/install/", "inspector/opcua/", "inspector/reports/",
    )),
    ("operator HMI", "screens and their Qt-free view-models", (
        "hmi/",
    )),
    ("entry points", "the command line and the benchmarks", (
        "inspector/__main__.py", "inspector/cli/", "inspector/bench/",
    )),
]

#: Upward imports known and being removed elsewhere, (importer, imported): each must still exist (an entry that no
#: longer matches fails, so the list only shrinks). Empty: the house has none.
KNOWN_UPWARD: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: str  # of the importing file, from the repository root
    line: int
    where: str  # "module", "function", "TYPE_CHECKING"

    def __str__(self) -> str:
        hidden = "" if self.where == "module" else f" ({'inside a function' if self.where == 'function' else 'under TYPE_CHECKING'})"
        return f"{self.importer} imports {self.imported} at {self.path}:{self.line}{hidden}"


def house_modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name, for its ``__init__.py``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def house_imports(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    """Every import from one module of the house to another, wherever it stands in the module."""
    modules = house_modules(root, packages)

    def known(name: str) -> str | None:  # the module a dotted name lands in (a name inside a module: that module)
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        rel = str(path.relative_to(root))

        def visit(node: ast.AST, where: str) -> None:
            for child in ast.iter_child_nodes(node):
                here = where
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and where == "module":
                    here = "function"
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        up = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                        base = ".".join(up + ([child.module] if child.module else []))
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in child.names]
                for imported in dict.fromkeys(known(t) for t in targets):  # one per module an import statement names
                    if imported is not None and imported != name:
                        found.append(Import(name, imported, rel, child.lineno, here))
                if isinstance(child, ast.If) and _is_type_checking(child.test):
                    for stmt in child.body:
                        visit(ast.Module(body=[stmt], type_ignores=[]), "TYPE_CHECKING")
                    for stmt in child.orelse:
                        visit(ast.Module(body=[stmt], type_ignores=[]), here)
                    continue
                visit(child, here)

        visit(ast.parse(path.read_text(), str(path)), "module")
    return found


def layer_of(path: Path, root: Path = REPO) -> int | None:
    """The index in :data:`LAYERS` of the layer a file belongs to (None: no entry covers it)."""
    rel = path.relative_to(root).as_posix()
    best: tuple[int, int] | None = None  # (length of the matching entry, layer)
    for index, (_, _, entries) in enumerate(LAYERS):
        for entry in entries:
            if rel == entry or (entry.endswith("/") and rel.startswith(entry)):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), index)
    return None if best is None else best[1]


def cycles(imports: list[Import]) -> list[list[Import]]:
    """One import chain round each circle of modules (Tarjan's strongly connected components)."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, {}).setdefault(imp.imported, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:  # recursive: the house's import depth is far below Python's limit
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    chains = []
    for component in components:  # the shortest way round from the component's first module back to it
        start = min(component)
        paths: dict[str, list[Import]] = {start: []}
        queue = [start]
        chain = None
        while queue and chain is None:
            v = queue.pop(0)
            for w, imp in sorted(graph.get(v, {}).items()):
                if w == start:
                    chain = paths[v] + [imp]
                    break
                if w in component and w not in paths:
                    paths[w] = paths[v] + [imp]
                    queue.append(w)
        chains.append(chain)
    return chains


def picture() -> str:
    """The layers as drawn in docs/architecture.md, highest first."""
    lines = ["An import may point down this picture, or sideways within a layer; never up.", ""]
    for index in reversed(range(len(LAYERS))):
        name, what, entries = LAYERS[index]
        lines.append(f"{index}  {name.upper()}: {what}")
        lines += textwrap.wrap(", ".join(entries), 110, initial_indent="   ", subsequent_indent="   ")
        if index:
            lines += ["      │", "      ▼"]
    return "\n".join(lines)


# -- the reader itself ---------------------------------------------------------------------------------

def test_the_reader_sees_imports_in_functions_under_type_checking_and_in_relative_form(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "mid.py").write_text(textwrap.dedent("""\
        from typing import TYPE_CHECKING
        from .. import low
        if TYPE_CHECKING:
            from pkg.high import Thing
        def later():
            import pkg.high
        try:
            from pkg.sub.other import Y
        except ImportError:
            pass
        import json
    """))
    (pkg / "sub" / "other.py").write_text("from pkg.low import X\nY = X\n")
    (pkg / "high.py").write_text("from pkg.sub import mid\nclass Thing:\n    def f(self):\n        from pkg import low\n")
    found = {(i.importer, i.imported, i.line, i.where) for i in house_imports(tmp_path, ("pkg",))}
    assert found == {
        ("pkg.sub.mid", "pkg.low", 2, "module"),
        ("pkg.sub.mid", "pkg.high", 4, "TYPE_CHECKING"),
        ("pkg.sub.mid", "pkg.high", 6, "function"),
        ("pkg.sub.mid", "pkg.sub.other", 8, "module"),
        ("pkg.sub.other", "pkg.low", 1, "module"),
        ("pkg.high", "pkg.sub.mid", 1, "module"),
        ("pkg.high", "pkg.low", 4, "function"),
    }
    circle = cycles(house_imports(tmp_path, ("pkg",)))
    assert [[(i.importer, i.imported) for i in chain] for chain in circle] == [
        [("pkg.high", "pkg.sub.mid"), ("pkg.sub.mid", "pkg.high")]]


# -- the house ----------------------------------------------------------------------------------------

def test_every_module_of_the_house_has_a_layer():
    homeless = sorted(str(p.relative_to(REPO)) for p in house_modules().values() if layer_of(p) is None)
    assert not homeless, "modules without a layer (add them to LAYERS in tests/unit/test_layers.py and to " \
                         "docs/architecture.md):\n  " + "\n  ".join(homeless)


def test_no_import_points_to_a_higher_layer():
    modules = house_modules()
    upward, known = [], set()
    for imp in house_imports():
        low, high = layer_of(modules[imp.importer]), layer_of(modules[imp.imported])
        if low is None or high is None or high <= low:
            continue
        if (imp.importer, imp.imported) in KNOWN_UPWARD:
            known.add((imp.importer, imp.imported))
            continue
        upward.append(f"{imp}: layer {low} ({LAYERS[low][0]}) -> layer {high} ({LAYERS[high][0]})")
    assert not upward, f"{len(upward)} import(s) from a lower layer to a higher one:\n  " + "\n  ".join(upward)
    stale = sorted(KNOWN_UPWARD - known)
    assert not stale, f"KNOWN_UPWARD lists imports that are gone (remove them from the list): {stale}"


def test_no_import_cycles():
    chains = cycles(house_imports())
    described = ["\n    -> ".join(str(imp) for imp in chain) for chain in chains]
    assert not chains, f"{len(chains)} import cycle(s):\n  " + "\n  ".join(described)


def test_the_picture_in_docs_architecture_is_drawn_from_the_table():
    text = DOC.read_text()
    assert PICTURE_START in text and PICTURE_END in text, f"{DOC} has no layer picture between the markers"
    drawn = text.split(PICTURE_START, 1)[1].split(PICTURE_END, 1)[0].strip().removeprefix("```").removesuffix("```")
    assert drawn.strip("\n") == picture(), f"the picture in {DOC.name} differs from LAYERS; it should read:\n```\n{picture()}\n```"
