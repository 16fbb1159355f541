"""The layering the code relies on, one test per row of ARCHITECTURE.md's "What may import
what": ``modeling`` and ``annotations.analysis`` are plain Python that runs without Django;
the import graph of the project's packages has no cycle; ``modeling`` knows nothing of the
portal; the models import no layer above them; the services enqueue Celery work by task
name through ``services/queue.py`` rather than importing ``annotations.tasks``, and import
no view; the tasks import no view; the views, the API, the forms and the admin read
through the selectors, with no ORM query of their own. Each rule is also checked to fail,
naming the module, on a tree that breaks it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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


# --- the rows of "What may import what" -----------------------------------------------------

Violations = dict[str, list[str]]


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def _imports_violating(modules: dict[str, Path], importers: Callable[[str], bool],
                       refused: Callable[[str, str], bool]) -> Violations:
    """Module -> the imports it may not make, for every module ``importers`` picks."""
    found = {m: sorted(n for n in imported_names(m, p, modules) if refused(m, n))
             for m, p in modules.items() if importers(m)}
    return {m: names for m, names in found.items() if names}


VIEW_LAYERS = ("annotations.views", "annotations.api")


def models_import_no_layer_above(modules: dict[str, Path]) -> Violations:
    """``annotations/models/`` never imports services, selectors or views (nor the API)."""
    above = ("annotations.services", "annotations.selectors", *VIEW_LAYERS)
    return _imports_violating(modules, lambda m: _in(m, "annotations.models"), lambda m, n: _in(n, *above))


def services_import_no_task_or_view(modules: dict[str, Path]) -> Violations:
    """``annotations/services/`` never imports ``annotations.tasks`` or a view: work is sent
    by task name through ``services/queue.py``."""
    return _imports_violating(modules, lambda m: _in(m, "annotations.services"),
                              lambda m, n: _in(n, "annotations.tasks", *VIEW_LAYERS))


def tasks_import_no_view(modules: dict[str, Path]) -> Violations:
    """``annotations/tasks/`` never imports a view (nor the API)."""
    return _imports_violating(modules, lambda m: _in(m, "annotations.tasks"), lambda m, n: _in(n, *VIEW_LAYERS))


QUEUE_MODULE = "annotations.services.queue"


def celery_only_through_the_queue(modules: dict[str, Path]) -> Violations:
    """Among ``annotations`` modules only ``services/queue.py`` talks to Celery
    (``celery`` or the app, ``evalportal.celery``). The tasks are Celery tasks by
    definition: they may take ``celery``'s decorator, never the app."""
    def refused(module: str, name: str) -> bool:
        if _in(module, "annotations.tasks"):
            return _in(name, "evalportal.celery")
        return _in(name, "celery", "evalportal.celery")

    return _imports_violating(modules, lambda m: _in(m, "annotations") and m != QUEUE_MODULE, refused)


# What the views and the API never import: ways to compose a query or reach the database.
QUERY_MACHINERY_MODULES = ("django.db.models.query", "django.db.models.expressions", "django.db.models.aggregates",
                           "django.db.models.functions", "django.db.models.lookups", "django.db.connection",
                           "django.db.connections")
QUERY_MACHINERY_NAMES = {"Q", "F", "Exists", "OuterRef", "Subquery", "Prefetch", "QuerySet", "Count", "Sum", "Avg",
                         "Min", "Max", "Value", "Case", "When", "Window", "Func", "ExpressionWrapper", "RawSQL",
                         "FilteredRelation"}


def imported_symbols(path: Path) -> set[str]:
    """What a module imports, name by name: ``from a.b import c`` is ``a.b.c`` whether or
    not ``c`` is a module (absolute imports only: the project's own are not at issue)."""
    symbols = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            symbols.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            symbols.update(f"{node.module}.{alias.name}" for alias in node.names)
    return symbols


def views_import_no_query_machinery(modules: dict[str, Path]) -> Violations:
    """``annotations/views/`` and ``annotations/api/`` import none of Django's query
    machinery (``Q``, ``F``, ``Exists``, aggregates, functions, the connection): their
    reads are the selectors'."""
    def refused(name: str) -> bool:
        if _in(name, *QUERY_MACHINERY_MODULES):
            return True
        return _in(name, "django.db.models") and name.rpartition(".")[2] in QUERY_MACHINERY_NAMES

    found = {m: sorted(n for n in imported_symbols(p) if refused(n)) for m, p in modules.items()
             if _in(m, *VIEW_LAYERS)}
    return {m: names for m, names in found.items() if names}


# The modules that read through selectors: the pages, the API's views and serializers, the
# forms and the admin.
READ_THROUGH_SELECTORS = ("annotations.views", "annotations.api.views", "annotations.api.serializers",
                          "annotations.forms", "annotations.admin")
# Queryset methods that compose or run a query; ``get``, ``count`` or ``values`` are left
# out, since dicts and other objects have them too.
QUERY_METHODS = {"filter", "exclude", "annotate", "aggregate", "select_related", "prefetch_related", "values_list",
                 "order_by", "raw", "extra", "select_for_update", "only", "defer", "distinct", "in_bulk",
                 "get_or_create", "update_or_create", "bulk_create", "bulk_update", "iterator"}


def orm_queries_in(path: Path) -> list[str]:
    """Where a module queries the ORM itself: ``<Model>.objects``, a ``QuerySet(...)`` made,
    or a queryset method called (line: what)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append(f"{node.lineno}: .objects")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "QuerySet":
                found.append(f"{node.lineno}: QuerySet(...)")
            elif isinstance(func, ast.Attribute) and name in QUERY_METHODS:
                found.append(f"{node.lineno}: .{name}(...)")
    return found


def views_query_no_orm_of_their_own(modules: dict[str, Path]) -> Violations:
    """The views, the API's views and serializers, the forms and the admin read through
    the selectors: no ``<Model>.objects``, no queryset built or filtered of their own."""
    found = {m: orm_queries_in(p) for m, p in modules.items() if _in(m, *READ_THROUGH_SELECTORS)}
    return {m: where for m, where in found.items() if where}


RULES = [models_import_no_layer_above, services_import_no_task_or_view, tasks_import_no_view,
         celery_only_through_the_queue, views_import_no_query_machinery, views_query_no_orm_of_their_own]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_each_row_of_what_may_import_what_holds(rule):
    offending = rule(project_modules())
    assert not offending, f"{' '.join(rule.__doc__.split())} Offending modules: {offending}"


# A module that breaks each rule, and the module the rule must name.
BREAKING = {
    models_import_no_layer_above: ("annotations/models/broken.py", "from annotations.selectors import rating\n"),
    services_import_no_task_or_view: ("annotations/services/broken.py", "from annotations.views import rater\n"),
    tasks_import_no_view: ("annotations/tasks/broken.py", "def run():\n    from annotations.api import views\n"),
    celery_only_through_the_queue: ("annotations/services/broken.py", "from evalportal.celery import app\n"),
    views_import_no_query_machinery: ("annotations/views/broken.py", "from django.db.models import Exists\n"),
    views_query_no_orm_of_their_own: ("annotations/forms.py",
                                      "from annotations.models import Study\nCHOICES = Study.objects.all()\n"),
}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_each_rule_names_the_module_that_breaks_it(rule, tmp_path):
    path, text = BREAKING[rule]
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    module = path.removesuffix(".py").replace("/", ".")
    assert module in rule(project_modules(tmp_path))


def test_the_orm_check_sees_a_queryset_method_and_a_queryset_made(tmp_path):
    path = tmp_path / "view.py"
    path.write_text("def page(study):\n    return study.cases.filter(split='test'), QuerySet(model=None)\n")
    assert orm_queries_in(path) == ["2: .filter(...)", "2: QuerySet(...)"]
