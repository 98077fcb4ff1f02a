"""The shape of the code: domains depend on each other one way only, and nothing hides a
cycle behind a function-level import. Read from the source with `ast`; no imports run."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

from naryad_harness import ROOT

SERVER = ROOT / "server"
DOMAINS = sorted(p.name for p in SERVER.iterdir() if (p / "__init__.py").exists())


def _sources() -> list[Path]:
    return [p for p in SERVER.rglob("*.py") if "piccolo_migrations" not in p.parts]


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module:
        if node.module == "server":
            return [f"server.{alias.name}" for alias in node.names]
        return [node.module]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def _domain_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "server" and parts[1] in DOMAINS:
        return parts[1]
    return None


def domain_graph() -> dict[str, dict[str, list[str]]]:
    """domain -> {imported domain: [file:line, ...]}"""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in _sources():
        rel = path.relative_to(SERVER)
        if len(rel.parts) < 2:
            continue  # server/app.py, cli.py… wire the domains together; they are no domain
        source = rel.parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for module in _imported_modules(node):
                target = _domain_of(module)
                if target is not None and target != source:
                    graph[source][target].append(f"{rel}:{node.lineno}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt, [*stack, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ["x"]}, "b": {}}) is None


def test_no_import_cycle_between_domains() -> None:
    graph = domain_graph()
    cycle = find_cycle(graph)
    if cycle:
        where = [f"{a} -> {b}: {', '.join(graph[a][b][:3])}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle between domains:\n" + "\n".join(where))


def test_lib_depends_on_no_domain() -> None:
    assert dict(domain_graph().get("lib", {})) == {}


def test_tasks_know_nothing_of_their_subscribers() -> None:
    """Notifications, SLA and print forms follow task events; tasks never call them."""
    imported = set(domain_graph().get("tasks", {}))
    assert imported.isdisjoint({"notifications", "sla", "pricing", "channels", "reports"})


def test_no_function_level_imports_of_server_modules_in_domains() -> None:
    """A function-level import of our own code in a domain is a cycle being dodged."""
    found = []
    for path in _sources():
        rel = path.relative_to(SERVER)
        if len(rel.parts) < 2:
            continue
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                for module in _imported_modules(node):
                    if module == "server" or module.startswith("server."):
                        found.append(f"server/{rel}:{node.lineno} imports {module}")
    assert found == []
