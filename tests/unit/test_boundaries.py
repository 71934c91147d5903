"""The rules of docs/architecture.md's boundaries, checked on the source (no import is executed).

- trial_agent/ imports only the standard library and itself (it runs on bare Python 3.8 hosts);
- the user side (Experiment, the REST client, the CLI, the progress bar, configs, the shared
  vocabulary) imports nothing from ``nni_remote.manager`` or ``nni_remote.server``;
- the modules of ``nni_remote.manager`` import each other without a cycle (imports only for type
  checking included);
- nothing outside ``services/ssh/`` imports its private modules.
"""
from __future__ import annotations

import ast
import os
import sys
from typing import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER_SIDE = ["nni_remote/experiment.py", "nni_remote/client.py", "nni_remote/progress.py", "nni_remote/data.py",
             "nni_remote/errors.py", "nni_remote/__init__.py", "nni_remote/cli", "nni_remote/config",
             "nni_remote/common"]


def python_files(*relative: str) -> Iterator[str]:
    for rel in relative:
        path = os.path.join(ROOT, rel)
        if path.endswith(".py"):
            yield path
            continue
        for folder, _, files in os.walk(path):
            yield from (os.path.join(folder, f) for f in sorted(files) if f.endswith(".py"))


def module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def imports(path: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it is (functions included)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module_name(path) if path.endswith("__init__.py") else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:  # `from pkg import module` names a module too
                yield node.lineno, f"{name}.{alias.name}"


def test_trial_agent_imports_only_the_standard_library_and_itself():
    stdlib = set(sys.stdlib_module_names)
    bad = [f"{os.path.relpath(p, ROOT)}:{line}: {name}" for p in python_files("trial_agent")
           for line, name in imports(p)
           if name.split(".")[0] not in stdlib | {"trial_agent", "nni", "__future__"}
           and not (p.endswith(os.path.join("trial_agent", "nni", "tuner.py")) and name.startswith("nni"))]
    assert not bad, "trial_agent must stay stdlib-only:\n" + "\n".join(bad)


def test_the_user_side_reaches_the_manager_only_over_rest():
    bad = [f"{os.path.relpath(p, ROOT)}:{line}: {name}" for p in python_files(*USER_SIDE)
           for line, name in imports(p)
           if name.startswith(("nni_remote.manager", "nni_remote.server"))]
    assert not bad, "the user side imports the manager or the server:\n" + "\n".join(bad)


def test_manager_modules_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = {}
    for path in python_files("nni_remote/manager"):
        mod = module_name(path)
        graph[mod] = {name for _, name in imports(path)
                      if name.startswith("nni_remote.manager.") and name != mod}
    modules = set(graph)
    graph = {m: {d for d in deps if d in modules} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2
    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles in manager/: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("folder", ["nni_remote", "tests", "benchmarks", "deploy"])
def test_the_ssh_package_is_used_through_its_public_face(folder):
    private = os.path.join(ROOT, "nni_remote", "services", "ssh")
    bad = [f"{os.path.relpath(p, ROOT)}:{line}: {name}" for p in python_files(folder)
           if not p.startswith(private + os.sep) and not p.endswith("test_ssh_unit.py")
           for line, name in imports(p) if name.startswith("nni_remote.services.ssh._")]
    assert not bad, "import names from nni_remote.services.ssh, not its private modules:\n" + "\n".join(bad)
