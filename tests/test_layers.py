"""The house keeps its layers: import-linter's contracts (pyproject.toml) hold, they cover every
module of billing.usage, the pure core imports no ORM, each package says what it may import, and
no module grows past 500 lines."""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE_CORE = ("pricing", "months", "vat", "formats", "errors")
MAX_LINES = 500


def _contracts():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def _layered_modules() -> set[str]:
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    names = set()
    for layer in layers:
        for part in layer.replace("|", ":").split(":"):
            names.add(part.strip().strip("()"))
    return names


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint)] if lint.exists() else [shutil.which("lint-imports") or "lint-imports"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_every_service_module_of_usage_is_in_a_layer():
    listed = _layered_modules()
    modules = {
        f"billing.usage.{path.stem}"
        for path in (ROOT / "billing" / "usage").glob("*.py")
        if path.stem != "__init__"
    }
    assert modules - listed == set()


@pytest.mark.parametrize("name", PURE_CORE)
def test_the_pure_core_imports_no_orm_and_no_request(name):
    tree = ast.parse((ROOT / "billing" / f"{name}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    forbidden = ("django.db", "django.http", "django.contrib", "django.apps", "billing.models")
    assert [module for module in imported if module.startswith(forbidden)] == []


def _packages():
    return sorted(
        path.parent
        for top in ("billing", "customers")
        for path in (ROOT / top).rglob("__init__.py")
        if "migrations" not in path.parts
        and "commands" not in path.parts
        and "templatetags" not in path.parts
    )


@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_says_what_it_holds_and_what_it_may_import(package):
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    assert len(docstring.splitlines()) >= 2, f"{package}/__init__.py needs a two-line docstring"
    assert "import" in docstring, "say what the package may import"


def test_no_module_is_over_500_lines():
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for top in ("billing", "customers", "config")
        for path in (ROOT / top).rglob("*.py")
        if "migrations" not in path.parts
        and (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_a_wrong_import_breaks_the_contracts(tmp_path):
    """The check bites: the pure core importing a model fails lint-imports."""
    for name in ("billing", "customers", "config"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    pricing = tmp_path / "billing" / "pricing.py"
    pricing.write_text(pricing.read_text() + "\nfrom billing.models import Plan  # noqa\n")
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint)] if lint.exists() else ["lint-imports"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "billing.pricing is not allowed to import billing.models" in result.stdout
