"""The package's layout rules (docs/design.md), read from the source's import statements,
lazy imports inside functions included:

- no import circle between the package's modules; importing `a.b.c` runs `a/__init__` and
  `a/b/__init__` first, so those count as imports too;
- each part imports only in the allowed directions (models know no training or data, the
  report reads records only, configuration knows no estimator, ...);
- the package root holds few entries, each a job; no module runs past ~400 lines without a
  reason written at its top.

The checks are tested on small made-up graphs too, so a rule that could never fail is caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "psilon_bench"
ROOT = "psilon_bench"

#: Part -> the other parts it may import (docs/design.md; tests/test_docs.py checks its table). A part is a module prefix below the
#: root ("engine.plan" allows that module alone); every part may import itself, `errors` and
#: the root (the version). `runner` may import every part but `cli`; `cli` imports anything.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "records": set(),
    "data": {"config"},
    "models": {"config"},
    "regularizers": {"config", "models", "records.io"},
    "pruning": {"config", "models", "engine.plan"},
    "measure": {"config", "models", "engine.plan"},
    "engine": {"config", "models", "regularizers", "pruning", "measure"},
    "baselines": {"config", "measure"},
    "report": {"records"},
}
PARTS = ("cli", "runner", "engine", "baselines", "config", "data", "models", "regularizers")
PARTS += ("pruning", "measure", "records", "report")
ALLOWED["runner"] = {p for p in PARTS if p not in ("cli", "runner")}
ALLOWED["cli"] = set(PARTS)
#: Third-party packages a part must never import (even lazily).
THIRD_PARTY_BANS = {
    "report": ("torch", "hydra"),
    "records": ("torch", "hydra"),
    "config": ("torch",),
    "data": ("torch",),
}
MAX_LINES = 400
REASON = "Longer than 400 lines:"
MAX_ROOT_ENTRIES = 14


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its `__init__`)."""
    mods = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def _imported_names(name: str, path: Path, tree: ast.AST) -> set[str]:
    """Dotted names an AST imports (`from a import b` gives `a` and `a.b`)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def import_graph(mods: dict[str, Path], root: str = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, parent `__init__`s included (not the
    importer's own parents, which are loaded before it)."""
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        own_parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        deps: set[str] = set()
        for dotted in _imported_names(name, path, ast.parse(path.read_text())):
            if dotted != root and not dotted.startswith(root + "."):
                continue
            while dotted and dotted not in mods:  # `from a.b import func` -> a.b
                dotted = dotted.rpartition(".")[0]
            parts = dotted.split(".")
            for i in range(2, len(parts) + 1):  # a.b.c loads a.b (and a, the light root)
                target = ".".join(parts[:i])
                if target in mods and target not in own_parents:
                    deps.add(target)
        deps.discard(name)
        graph[name] = deps
    return graph


def third_party(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the top-level names of everything outside the package it imports."""
    out = {}
    for name, path in mods.items():
        names = _imported_names(name, path, ast.parse(path.read_text()))
        out[name] = {n.split(".")[0] for n in names if n and not n.startswith(ROOT)}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _under(module: str, part: str, root: str = ROOT) -> bool:
    prefix = f"{root}.{part}"
    return module == prefix or module.startswith(prefix + ".")


def violations(graph: dict[str, set[str]], allowed=None, root: str = ROOT) -> list[str]:
    """'importer -> imported' for every import between parts that `allowed` does not list."""
    allowed = ALLOWED if allowed is None else allowed
    bad = []
    for importer, deps in sorted(graph.items()):
        part = next((p for p in allowed if _under(importer, p, root)), None)
        if part is None:
            continue
        ok = {part, "errors", *allowed[part]}
        for dep in sorted(deps):
            if dep == root or any(_under(dep, o, root) for o in ok):
                continue
            if any(f"{root}.{o}".startswith(dep + ".") for o in ok):  # a package on the way
                continue  # (importing engine.plan loads engine/__init__, which stays light)
            bad.append(f"{importer} -> {dep}")
    return bad


def _graph(edges: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in edges.split():
        a, b = edge.split(">")
        graph.setdefault(f"p.{a}", set()).add(f"p.{b}")
        graph.setdefault(f"p.{b}", set())
    return graph


# --------------------------------------------------------------------------------------
# the checks themselves


def test_cycles_finds_a_loop_and_only_a_loop():
    assert cycles(_graph("a>b b>c c>a c>d")) == [["p.a", "p.b", "p.c"]]
    assert cycles(_graph("a>b b>c a>c")) == []


def test_violations_honour_exceptions():
    allowed = {"measure": {"engine.plan"}, "engine": {"measure"}}
    graph = _graph(
        "measure.x>engine measure.x>engine.plan measure.x>engine.train engine.train>measure.x"
    )
    assert violations(graph, allowed, root="p") == ["p.measure.x -> p.engine.train"]


def test_import_graph_sees_lazy_imports_and_parent_packages(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from p.a.m import f\n")
    (pkg / "a" / "m.py").write_text("def f():\n    from p.b import g\n")
    (pkg / "b.py").write_text("from p.a.m import f\n")
    graph = import_graph(module_files(pkg), root="p")
    assert graph["p.a.m"] == {"p.b"}  # lazy, and not its own parent p.a
    assert graph["p.b"] == {"p.a", "p.a.m"}  # p.a.m runs p/a/__init__ first
    assert cycles(graph) == [["p.a", "p.a.m", "p.b"]]


# --------------------------------------------------------------------------------------
# the package


def test_no_import_circle():
    found = cycles(import_graph(module_files()))
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_follow_the_layout_rules():
    bad = violations(import_graph(module_files()))
    assert not bad, "imports against the layout rules:\n" + "\n".join(bad)


def test_every_part_has_rules():
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert parts == set(PARTS) == set(ALLOWED)


@pytest.mark.parametrize("part", sorted(THIRD_PARTY_BANS))
def test_parts_leave_heavy_libraries_alone(part):
    mods = module_files()
    banned = THIRD_PARTY_BANS[part]
    bad = [f"{m} imports {lib}" for m, libs in sorted(third_party(mods).items())
           if _under(m, part) for lib in sorted(libs) if lib in banned]  # fmt: skip
    assert not bad


def test_root_holds_few_entries_each_a_job():
    entries = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if p.name not in ("__pycache__", "py.typed") and not p.name.startswith(".")
    )
    assert len(entries) <= MAX_ROOT_ENTRIES, entries
    for sub in PACKAGE.iterdir():
        if sub.is_dir() and sub.name != "__pycache__":
            init = sub / "__init__.py"
            assert init.exists(), f"{sub.name}/ is not a package"
            doc = ast.get_docstring(ast.parse(init.read_text()))
            assert doc and len(doc.split()) >= 12, f"{sub.name}/__init__.py says what it is for"


def test_long_modules_say_why():
    long = []
    for name, path in sorted(module_files().items()):
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and REASON not in doc:
            long.append(f"{name}: {lines} lines")
    assert not long, f"over {MAX_LINES} lines without '{REASON} ...' in the docstring: {long}"
