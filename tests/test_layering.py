"""The layering of faasml/, read from the source: every module parsed with `ast`, every
import an edge (module-level ones and those inside a function alike, since a deferred
import is still a dependency; each edge says which it is).

  * No import circle between modules anywhere in faasml/ (faasml/selector's are reported
    on their own).
  * The serving side (the selector, the executors, the local runtime, the client, and the
    shared top-level modules they use) imports neither the offline build (faasml/models)
    nor the tooling (faasml/bench, faasml/evaluation): tooling imports serving code, never
    the other way round.
  * The local runtime imports nothing from the selector: they agree through
    faasml/contract.py and meet over HTTP.
  * The one platform launcher (faasml/launch.py) imports no benchmark nor the evaluation,
    which both use it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


PACKAGE_DIR = Path(__file__).resolve().parents[1] / "faasml"
SERVING_PACKAGES = ("faasml.selector", "faasml.executor", "faasml.runtime", "faasml.client")
BUILD_AND_TOOLING = ("faasml.models", "faasml.bench", "faasml.evaluation", "faasml.simulation")


MODULE_LEVEL, FUNCTION_LEVEL, TYPING_ONLY = "module-level", "function-level", "typing-only"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    kind: str = MODULE_LEVEL   # function-level: runs when called; typing-only: `if TYPE_CHECKING:`

    @property
    def deferred(self) -> bool:
        return self.kind == FUNCTION_LEVEL

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line}, {self.kind})"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The faasml module `name` refers to: itself, else the closest package holding it
    (`from faasml.x import y` where `y` is a name, not a module)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _typing_guard(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """(import node, kind) for every import in the tree: inside a function (at any depth)
    it is function-level; under `if TYPE_CHECKING:` typing-only; else module-level."""
    def walk(node: ast.AST, kind: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, kind
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, FUNCTION_LEVEL)
            elif kind == MODULE_LEVEL and _typing_guard(child):
                yield from walk(child, TYPING_ONLY)
            else:
                yield from walk(child, kind)
    yield from walk(tree, MODULE_LEVEL)


def module_edges(module: str, source: str, is_package: bool, known) -> list[Edge]:
    """The edges from `module` (its source text) to the `known` modules, each
    (target, line, kind) once."""
    edges: dict[Edge, None] = {}
    for node, kind in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = _base(module, is_package, node)
            names = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"] or [base]
        for name in names:
            target = _resolve(name, known)
            if target is not None and target != module:
                edges[Edge(module, target, node.lineno, kind)] = None
    return list(edges)


def import_edges() -> list[Edge]:
    known = modules()
    return [edge for module, path in known.items()
            for edge in module_edges(module, path.read_text(), path.name == "__init__.py", known)]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        # iterative: a deep import chain must not hit the recursion limit
        work = [(node, iter(sorted(graph[node])))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(component: list[str], edges: list[Edge]) -> str:
    inside = [str(e) for e in edges if e.source in component and e.target in component]
    return f"import circle among {', '.join(component)}:\n    " + "\n    ".join(inside)


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_selector_internal(component: list[str]) -> bool:
    return all(in_package(m, "faasml.selector") for m in component)


def serving_modules(edges: list[Edge]) -> set[str]:
    """The serving packages' modules, and the top-level faasml modules they use (directly
    or through one another)."""
    serving = {m for m in modules() if any(in_package(m, p) for p in SERVING_PACKAGES)}
    top_level = {m for m in modules() if m.count(".") == 1}
    while True:
        used = {e.target for e in edges if e.source in serving and e.target in top_level} - serving
        if not used:
            return serving
        serving |= used


EDGES = import_edges()


def test_the_reader_sees_every_kind_of_import():
    """The rules below can fail: the reader finds each kind of edge, and the circles."""
    known = {"p": "", "p.a": "", "p.b": "", "p.b.c": "", "p.d": ""}
    source = ("from typing import TYPE_CHECKING\nimport p.a\nfrom . import b\nfrom .b.c import thing\n"
              "if TYPE_CHECKING:\n    from p import d\n"
              "def later():\n    import p.b.c as c\n")
    assert module_edges("p.x", source, False, known) == [
        Edge("p.x", "p.a", 2), Edge("p.x", "p.b", 3), Edge("p.x", "p.b.c", 4),
        Edge("p.x", "p.d", 6, TYPING_ONLY), Edge("p.x", "p.b.c", 8, FUNCTION_LEVEL)]
    assert any(e.source == "faasml.runtime.direct_calls" and e.target == "faasml.contract" and not e.deferred
               for e in EDGES)
    assert any(e.source == "faasml.bench.commands" and e.target == "faasml.bench.selector" and e.deferred
               for e in EDGES)
    assert cycles([Edge("a", "b", 1), Edge("b", "c", 1, FUNCTION_LEVEL), Edge("c", "a", 1),
                   Edge("c", "d", 1)]) == [["a", "b", "c"]]
    assert "faasml.contract" in serving_modules(EDGES) and "faasml.launch" not in serving_modules(EDGES)


def test_no_import_circle_outside_the_selector():
    found = [c for c in cycles(EDGES) if not is_selector_internal(c)]
    assert not found, "\n".join(describe(c, EDGES) for c in found)


def test_no_import_circle_inside_the_selector():
    found = [c for c in cycles(EDGES) if is_selector_internal(c)]
    assert not found, "\n".join(describe(c, EDGES) for c in found)


def test_serving_code_imports_no_build_or_tooling_code():
    serving = serving_modules(EDGES)
    wrong = [str(e) for e in EDGES if e.source in serving
             and any(in_package(e.target, p) for p in BUILD_AND_TOOLING)]
    assert not wrong, "serving code importing build or tooling code:\n  " + "\n  ".join(wrong)


def test_the_runtime_imports_nothing_from_the_selector():
    wrong = [str(e) for e in EDGES if in_package(e.source, "faasml.runtime") and in_package(e.target, "faasml.selector")]
    assert not wrong, "the runtime reaching into the selector (use faasml/contract.py):\n  " + "\n  ".join(wrong)


def test_the_launcher_imports_no_benchmark_nor_the_evaluation():
    wrong = [str(e) for e in EDGES if e.source == "faasml.launch"
             and any(in_package(e.target, p) for p in ("faasml.bench", "faasml.evaluation"))]
    assert not wrong, "\n  ".join(wrong)
