"""Repository rules: dependency lists agree, notebooks are stripped and parametrized, CI calls the README's command."""
import ast
import json
import re

import pytest
import tomllib

import tradeoff_lib as tl
from tests.conftest import NOTEBOOKS, ROOT


def _pip_list_of_environment_yml() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    items = [line.strip()[2:].strip() for line in lines[start + 1:] if line.strip().startswith("- ")]
    return [item for item in items if item != "-e ."]


def test_environment_yml_equals_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert sorted(_pip_list_of_environment_yml()) == sorted(expected)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make report" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install:", "report:", "test:", "lab:"):
        assert re.search(rf"^{target}", makefile, re.M), target


def test_there_is_a_series():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_parametrized(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(tagged[0]["source"]))
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign), "the parameters cell holds only assignments"
        ast.literal_eval(node.value)  # flat literals only, as papermill expects
        names.append(node.targets[0].id)
    assert {"SEED", "REPORT_DIR"} <= set(names)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    source = "".join("".join(c["source"]) for c in code)
    assert "import tradeoff_lib as tl" in source and "tl.check_parameters(" in source


def _names_in_tests() -> tuple[set[str], set[str]]:
    """(names called somewhere in tests/, names referenced at all): read from the syntax tree, not grepped."""
    called, referenced = set(), set()
    for path in [*(ROOT / "tests").rglob("test_*.py"), ROOT / "tests" / "conftest.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if name:
                referenced.add(name)
            if isinstance(node, ast.Call):
                func = node.func
                called.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None))
    return called, referenced


def _public_modules():
    import importlib
    import pkgutil

    import tradeoff_lib.techniques as techniques

    yield tl
    for info in pkgutil.iter_modules(techniques.__path__):
        yield importlib.import_module(f"tradeoff_lib.techniques.{info.name}")


@pytest.mark.parametrize("module", list(_public_modules()), ids=lambda m: m.__name__)
def test_every_public_function_is_called_by_a_test(module):
    assert hasattr(module, "__all__"), f"{module.__name__} needs __all__ (its public names)"
    called, referenced = _names_in_tests()
    # a class counts when a test constructs it or checks an instance against it; a constant when a test reads it
    missing = [name for name in module.__all__
               if name not in (called if callable(getattr(module, name)) and not isinstance(getattr(module, name), type)
                               else referenced)]
    assert not missing, f"{module.__name__}: public names no test calls (or reads): {missing}"
