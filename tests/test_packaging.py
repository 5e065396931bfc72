"""Repository rules: dependency lists agree, notebooks are stripped and parametrized, CI calls the README's command."""
import ast
import json
import re
import tomllib
from pathlib import Path

import pytest

import tradeoff_lib as tl

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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


def test_every_public_name_is_tested():
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    untested = [name for name in tl.__all__ if not re.search(rf"\b{name}\b", tests)]
    assert not untested, f"public names without a test: {untested}"
