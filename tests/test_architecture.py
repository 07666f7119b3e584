"""The shape of ``pluralign_core``: stage packages, imports that only run downstream, no cycles, no UI.

These checks read the source (``ast``), so they cost milliseconds and name the offending file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "pluralign_core"

# Pipeline order: a package may import from itself and from packages listed before it, never after.
# ``paths``/``config_base``/``launcher``/``hardware`` are shared infrastructure; ``cli``/``commands`` sit
# on top.
LAYERS = (
    ("paths", "config_base", "launcher", "progress", "hardware", "access_token", "run_timing"),
    ("ratings",),
    ("store",),
    ("analysis",),
    ("preferences",),
    ("models",),
    ("rewards",),
    ("training",),
    ("evaluation",),
    ("experiments",),
    ("chat",),
    ("cli", "commands"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
MAX_MODULE_LINES = 500


def core_modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def top_name(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pluralign_core" and len(parts) > 1 else None


def owner(path: Path) -> str:
    rel = path.relative_to(CORE)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path) -> list[tuple[int, str]]:
    """Every ``pluralign_core`` module ``path`` imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pluralign_core":
                found += [(node.lineno, f"pluralign_core.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.startswith("pluralign_core")]


def test_every_core_module_belongs_to_a_known_stage():
    unknown = {owner(p) for p in core_modules()} - set(RANK) - {"__init__"}
    assert not unknown, f"modules outside the stage layout (add them to LAYERS or move them): {unknown}"


def test_imports_only_run_downstream():
    upstream_imports = []
    for path in core_modules():
        mine = owner(path)
        if mine == "__init__":
            continue
        for line, module in imports(path):
            target = top_name(module)
            if target is not None and target in RANK and RANK[target] > RANK[mine]:
                upstream_imports.append(f"{path.relative_to(CORE)}:{line} imports {module}")
    assert not upstream_imports, "a stage imports a later stage:\n" + "\n".join(upstream_imports)


def module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    names = {module_name(p) for p in core_modules()}
    for path in core_modules():
        deps = set()
        for _, module in imports(path):
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module and module != module_name(path) and not module_name(path).startswith(module + "."):
                deps.add(module)
        graph[module_name(path)] = deps
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_core_never_imports_streamlit():
    """Only ``pluralign app`` touches streamlit: it starts the server (the pages are outside the core)."""
    offenders = [
        f"{p.relative_to(CORE)}:{node.lineno}"
        for p in core_modules()
        if p.relative_to(CORE).as_posix() != "commands/app.py"
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "streamlit" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "streamlit")
    ]
    assert not offenders, offenders


def test_no_core_module_passes_the_size_limit():
    """Small modules with one job each (core, pages, app): one over the limit is split along a seam."""
    pages = sorted((CORE.parent / "pages").glob("*.py"))
    too_long = {
        str(p.relative_to(CORE.parent)): n
        for p in [*core_modules(), *pages, CORE.parent / "app.py"]
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
