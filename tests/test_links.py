"""Code and notebooks stay linked: "Used in:" lines and the README's "code" column follow the notebooks' code."""
import pkgutil
import re

import pytest

import tradeoff_lib
from tests.conftest import ROOT
from tradeoff_lib import links

MODULES = [m.name for m in pkgutil.walk_packages(tradeoff_lib.__path__, "tradeoff_lib.")
           if not m.ispkg and not m.name.rsplit(".", 1)[1].startswith("_")
           and not re.fullmatch(r"tradeoff_lib\.exercises\.nb\d\d", m.name)]


@pytest.mark.parametrize("module", MODULES)
def test_used_in_line_names_the_notebooks_that_use_the_module(module):
    declared = links.declared_users(module)
    assert declared is not None, f"{module} has no 'Used in:' line; write: {links.used_in_line(module)}"
    actual = links.module_users().get(module, [])
    assert declared == actual, f"{module}: write '{links.used_in_line(module)}'"


def test_notebook_modules_reads_imports_and_tl_calls(tmp_path):
    import json

    nb = {"cells": [{"cell_type": "code", "source": ["import tradeoff_lib as tl\n",
                                                     "from tradeoff_lib.techniques import pruning\n",
                                                     "tl.measure(m)\n", "tl.eval_mode\n"]},
                    {"cell_type": "markdown", "source": ["tl.fit is only text here"]}], "metadata": {}}
    path = tmp_path / "00_x.ipynb"
    path.write_text(json.dumps(nb))
    assert links.notebook_modules(path) == {"tradeoff_lib.techniques.pruning", "tradeoff_lib.tradeoff",
                                            "tradeoff_lib.modes"}
    assert links.module_users(tmp_path)["tradeoff_lib.modes"] == ["00_x"]
    assert links.modules_behind(tmp_path) == {"00_x": ""}  # one notebook: every module is a core one


def test_readme_code_column_names_the_modules_behind_each_notebook():
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\| \d\d \| `(\d\d_\w+)` \|", line)
        if match:
            rows[match.group(1)] = line.rstrip(" |").rsplit("|", 1)[1].strip()
    assert rows == links.modules_behind(), "update the README's course table (python -m tradeoff_lib.links)"


def test_write_links_fixes_a_drifted_readme_column(tmp_path):
    readme = tmp_path / "README.md"
    row = "| 03 | `03_pruning` | pruning | curves | `old.py` |"
    readme.write_text(f"# T\n\n{row}\n")
    assert links.write_links(readme=readme) == ["README: 03_pruning"]   # the docstrings are already in sync
    expected = links.modules_behind()["03_pruning"]
    assert readme.read_text() == f"# T\n\n| 03 | `03_pruning` | pruning | curves | {expected} |\n"
    assert links.write_links(readme=readme) == []
