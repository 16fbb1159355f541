"""The layering the code relies on: ``modeling`` and ``annotations.analysis`` are plain
Python that runs without Django; the import graph of the project's packages has no cycle;
``modeling`` knows nothing of the portal; the services enqueue Celery work by task name
rather than importing ``annotations.tasks``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("annotations", "evalportal", "modeling")
PLAIN_PYTHON = ("modeling", "annotations/analysis")
REFUSED = ("django", "rest_framework", "celery")

IMPORT_WITHOUT_DJANGO = r"""
import importlib, importlib.abc, sys, traceback
from pathlib import Path

REFUSED = {refused!r}


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused by tests/test_layering.py)", name=name)
        return None


already = sorted(m for m in sys.modules if m.partition(".")[0] in REFUSED)
assert not already, already
sys.meta_path.insert(0, Refuse())
failed = []
for folder in {folders!r}:
    for path in sorted(Path(folder).rglob("*.py")):
        if path.name == "__main__.py":  # running it would start the command line
            continue
        parts = path.with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            importlib.import_module(module)
        except BaseException:
            failed.append(module)
            print(f"--- {{module}}\n{{traceback.format_exc()}}", file=sys.stderr)
print("imported", len([m for m in sys.modules if m.startswith(("modeling", "annotations"))]), "modules")
sys.exit(1 if failed else 0)
"""


def test_modeling_and_analysis_import_without_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = IMPORT_WITHOUT_DJANGO.format(refused=REFUSED, folders=PLAIN_PYTHON)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]


# --- the import graph ------------------------------------------------------------------

def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every .py file of the project's packages but migrations."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            if "migrations" in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
            modules[".".join(parts)] = path
    return modules


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``if TYPE_CHECKING:``, which never runs."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.If) and node in parent.body:
            test = parent.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                return True
        node = parent
    return False


def imported_names(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module ``module`` imports, at the top or inside functions, absolute:
    ``from a.b import c`` is ``a.b.c`` when that module exists, else ``a.b``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            names.add(full if full in modules else base)
    return names


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = project_modules(root)
    return {m: {n for n in imported_names(m, p, modules) if n in modules and n != m} for m, p in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as the
    sorted list of its modules."""
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete loop inside a component: start -> ... -> start (breadth first)."""
    members, start = set(component), component[0]
    previous, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    return component


def describe_cycles(graph: dict[str, set[str]]) -> str:
    return "\n".join(f"import cycle among {', '.join(c)}: {' -> '.join(one_cycle(graph, c))}"
                     for c in import_cycles(graph))


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert not import_cycles(graph), describe_cycles(graph)


def test_modeling_imports_nothing_from_the_portal():
    modules = project_modules()
    portal = ("annotations", "evalportal")
    offending = {m: sorted(n for n in imported_names(m, p, modules) if n.partition(".")[0] in portal)
                 for m, p in modules.items() if m.partition(".")[0] == "modeling"}
    assert not {m: names for m, names in offending.items() if names}


def test_plain_python_packages_name_no_django_even_inside_functions():
    modules = project_modules()
    plain = tuple(folder.replace("/", ".") for folder in PLAIN_PYTHON)
    offending = {m: sorted(n for n in imported_names(m, p, modules) if n.partition(".")[0] in REFUSED)
                 for m, p in modules.items() if m in plain or m.startswith(tuple(f"{x}." for x in plain))}
    assert not {m: names for m, names in offending.items() if names}


def test_services_enqueue_tasks_by_name_without_importing_them():
    modules = project_modules()
    offending = {m: sorted(n for n in imported_names(m, p, modules)
                           if n == "annotations.tasks" or n.startswith("annotations.tasks."))
                 for m, p in modules.items() if m.startswith("annotations.services")}
    assert not {m: names for m, names in offending.items() if names}
