"""The package's layering, read from the source: module-level imports between cnnpy's modules form
no circle, ``cnnpy.shapes`` is a leaf (sizes and padding arithmetic on top of the engine), a
private name is imported only from the package's private helper modules (``_args``, ``_random``,
...), never from a public module, and imports hidden inside functions are the few listed here
with their reason."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnpy"

# imports inside functions: (module, target) -> reason; any other one hides a dependency
LOCAL_IMPORTS = {
    **{("cnnpy.__main__", f"cnnpy.{m}"): "the demo command imports what it runs"
       for m in ("data", "datasets", "models", "nn", "optim")},
    ("cnnpy.shapes", "cnnpy.model_summary"): "the old names cnnpy.shapes.summary/receptive_field",
    ("cnnpy.training", "cnnpy.viz"): "History.plot draws with the optional viz module (matplotlib)",
}


def _name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path):
    return path.name == "__init__.py"


def _imports(path):
    """(target module, imported names, at module level?) of every import of cnnpy in path."""
    tree = ast.parse(path.read_text())
    here = _name(path).split(".")
    package = here if _is_package(path) else here[:-1]
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [a.name for a in node.names]
            if not module.startswith("cnnpy"):
                continue
            for n in names:  # "from . import functional" imports a module, not a name
                sub = f"{module}.{n}"
                path_of_sub = PACKAGE.parent / sub.replace(".", "/")
                if path_of_sub.is_dir() or any(path_of_sub.parent.glob(path_of_sub.name + ".*")):
                    out.append((sub, [], id(node) in top))
                else:
                    out.append((module, [n], id(node) in top))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("cnnpy"):
                    out.append((a.name, [], id(node) in top))
    return out


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _graph():
    """module -> modules it imports at module level (the package facade cnnpy itself left out:
    every submodule imports it implicitly, and it imports everything)."""
    graph = {}
    for name, path in MODULES.items():
        if name == "cnnpy":
            continue
        graph[name] = {t for t, _, top in _imports(path) if top and t != "cnnpy" and t != name}
    return graph


def test_no_import_circle():
    graph = _graph()
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_shapes_is_a_leaf():
    assert _graph()["cnnpy.shapes"] <= {"cnnpy._cnn", "cnnpy._args"}


def test_private_names_come_only_from_private_modules():
    bad = [f"{name}: from {target} import {n}" for name, path in MODULES.items()
           for target, names, _ in _imports(path) for n in names
           if n.startswith("_") and not target.rpartition(".")[2].startswith("_")]
    assert not bad, bad


def test_imports_inside_functions_are_the_listed_ones():
    found = {(name, t) for name, path in MODULES.items() for t, _, top in _imports(path) if not top}
    assert found == set(LOCAL_IMPORTS), sorted(found ^ set(LOCAL_IMPORTS))
