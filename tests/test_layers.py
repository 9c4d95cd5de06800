"""The architecture, kept by reading the code (docs/architecture.md explains it).

- core imports no capability; a capability imports only capabilities to its left in
  LAYERS; a function-level ``experience.*`` import (the usual way to hide a cycle) is
  allowed only in create_app.
- every role decision goes through ``can()``: no role comparison in a view, a form or a
  template (the rules live in each capability's permissions.py).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "experience"

#: read as "may import anything to its left"
LAYERS = [
    "accounts",
    "transfers",
    "notices",
    "campaigns",
    "units",
    "events",
    "plans",
    "guests",
    "checkin",
    "ratings",
    "works",
    "screening",
    "platform",
    "displays",
    "reports",
]
#: below every capability: core and the app's plumbing
FOUNDATION = {"core", "extensions", "config", "translations"}
#: above every capability: they wire the app together
TOP = {"__init__", "demo", "worker"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        yield path, rel.parts[0].removesuffix(".py")


def _imports(tree: ast.AST):
    """(imported module, line, inside a function?) for every experience.* import."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            names = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
                names = [child.module] if child.module != "experience" else names[1:]
            for name in names:
                if name.startswith("experience."):
                    found.append((name, child.lineno, in_function, _function_name(node)))
            visit(child, nested)

    visit(tree, False)
    return found


def _function_name(node) -> str:
    return getattr(node, "name", "")


def _package_of(module: str) -> str:
    return module.split(".")[1]


def _violations():
    problems = []
    for path, package in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for module, line, in_function, function in _imports(tree):
            where = f"{path.relative_to(ROOT)}:{line}"
            target = _package_of(module)
            if in_function and not (package == "__init__" and function == "create_app"):
                problems.append(f"{where}: function-level import of {module}")
            if target == package or target in FOUNDATION or package in TOP:
                continue
            if package in FOUNDATION:
                problems.append(f"{where}: {package} imports the capability {target}")
            elif target in TOP:
                problems.append(f"{where}: {package} imports {module}, which wires the app together")
            elif LAYERS.index(target) > LAYERS.index(package):
                problems.append(f"{where}: {package} imports {target}, which stands above it")
    return problems


def test_every_package_has_a_place():
    packages = {p for _, p in _modules()}
    assert packages <= set(LAYERS) | FOUNDATION | TOP, packages - set(LAYERS) - FOUNDATION - TOP


def test_imports_only_run_downwards():
    assert _violations() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "experience"
    (fake / "events").mkdir(parents=True)
    (fake / "core").mkdir()
    (fake / "events" / "services.py").write_text("from experience.plans.services import plan_for\n")
    (fake / "core" / "web.py").write_text("def f():\n    from experience.notices import services\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = _violations()
    assert any("events imports plans" in p for p in found)
    assert any("core imports the capability notices" in p for p in found)
    assert any("function-level import of experience.notices" in p for p in found)


# -- One permission source ---------------------------------------------------------------

ROLE_IN_CODE = re.compile(
    r"current_user\.role|\.is_hq\b|\brole\.value\b"
    r"|(?:\bis|\bis not|==|!=|\bin)\s*\(?\s*Role\.|\.role\s*(?:is|==|!=|in)\b"
)
ROLE_IN_TEMPLATE = re.compile(r"current_user\.role|\.is_hq\b|\brole\.value\b")


def _role_comparisons():
    found = []
    for path, _ in _modules():
        if path.name in ("views.py", "forms.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if ROLE_IN_CODE.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if ROLE_IN_TEMPLATE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def test_roles_are_judged_only_by_can():
    assert _role_comparisons() == []


@pytest.mark.parametrize(
    "line",
    [
        "    if current_user.role is Role.PROVINCE:",
        "    if user.role == Role.HQ:",
        "    if current_user.is_hq and province:",
        '{% if current_user.role.value == "hq" %}',
    ],
)
def test_the_check_sees_a_role_comparison(line):
    assert ROLE_IN_CODE.search(line) or ROLE_IN_TEMPLATE.search(line)
