"""Layers import downward only, and no module imports itself back — counting imports inside functions and under
TYPE_CHECKING too (an ast read of every module, as ../shared/hooks/import_cycles.py does it)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module may import its own layer or any below it; never one above. Longest prefix wins.
LAYERS: list[tuple[str, ...]] = [
    ("microgpt.errors", "microgpt.config", "microgpt.progress", "microgpt.home"),
    ("microgpt.data", "microgpt.module", "microgpt.calibration", "microgpt.policy", "microgpt.backbones",
     "microgpt.training", "microgpt.evaluation.metrics"),
    ("microgpt.task",),
    ("microgpt.labels", "microgpt.extract", "microgpt.reply"),  # the task families
    ("microgpt.store", "microgpt.routing", "microgpt.evaluation", "microgpt.export", "microgpt.api"),
    ("microgpt.lifecycle", "microgpt.batch"),
    ("microgpt.serving", "microgpt.cli", "microgpt"),  # adapters (and the package's lazy public API)
]  # fmt: skip


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    return rank


def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "microgpt").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = {f"{base}.{a.name}" for a in node.names} & known
            found |= subs or ({base} & known)
    found.discard(name)
    return {m for m in found if not m.startswith(name + ".")}  # a package importing its own parts is no cycle


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_layers_import_downward_only():
    upward = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in graph().items()
        for b in sorted(targets)
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_task_name_switches_outside_the_task_families():
    """Adapters and shared code ask the task object (polymorphism), they do not compare task-name strings."""
    names = {"classify", "tag", "extract", "reply"}
    hits = []
    for name, path in modules().items():
        if layer_of(name) == 3 or name == "microgpt.task":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                consts = [c for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in names]
                if consts and any(
                    (isinstance(n, ast.Attribute) and n.attr == "task") or (isinstance(n, ast.Name) and n.id == "task")
                    for n in ast.walk(node)
                ):
                    hits.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert len(hits) <= 5, "task-name switches outside the task packages:\n" + "\n".join(hits)
