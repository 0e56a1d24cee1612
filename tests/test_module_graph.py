"""The package's module graph: layered, and without import cycles.

Read from the source with `ast`, so every import counts, also those inside
functions (a lazy import is still a dependency).
"""

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "keras_srcrm"

# Each top-level part of the package may import only from parts with a lower
# rank (and from itself). `utils` is the bottom; `ops` imports nothing above
# it; the command-line tool is the top. `training` (optimizers, schedules,
# the compile defaults) sits below `models`, whose segmenter compiles itself
# with those defaults (`SRCRMSegmenter.compile`).
RANKS = {
    "utils": 0,
    "version": 0,
    "ops": 1,
    "layers": 2,
    "losses": 2,
    "metrics": 2,
    "data": 2,
    "training": 3,
    "models": 4,
    "analysis": 4,
    "inference": 4,
    "export": 4,
    "": 5,  # keras_srcrm/__init__.py
    "cli": 6,
    "__main__": 7,
}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}


def _imports(path, modules):
    """The `keras_srcrm` modules that the file at `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a.b import c` imports `a.b.c` if that is a module, else `a.b`.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _graph():
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_part_has_a_rank():
    assert {_part(module) for module in _graph()} <= set(RANKS)


def test_parts_import_only_parts_below_them():
    violations = [
        f"{module} -> {imported}"
        for module, imported_modules in _graph().items()
        for imported in imported_modules
        if _part(imported) != _part(module)
        and RANKS[_part(imported)] >= RANKS[_part(module)]
    ]
    assert violations == []


def test_ops_import_only_ops_and_utils():
    graph = _graph()
    outside = {
        imported
        for module, imported_modules in graph.items()
        if _part(module) == "ops"
        for imported in imported_modules
        if _part(imported) not in ("ops", "utils")
    }
    assert outside == set()


def _cycles(graph):
    """The import cycles of `graph` ({module: imported modules}), as paths."""
    cycles = []
    state = {}  # module -> "visiting" | "done"

    def visit(module, stack):
        state[module] = "visiting"
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "visiting":
                cycles.append(stack[stack.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, stack)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return cycles


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import keras_srcrm.ops.cost", {"keras_srcrm.ops.cost"}),
        ("from keras_srcrm.ops import cost", {"keras_srcrm.ops.cost"}),
        ("from keras_srcrm.ops import flow_warp", {"keras_srcrm.ops"}),
        ("def f():\n    from keras_srcrm import layers", {"keras_srcrm.layers"}),
        ("import numpy", set()),
    ],
)
def test_import_reader(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert _imports(path, _modules()) == expected
