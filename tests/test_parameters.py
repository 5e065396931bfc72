"""``tl.check_parameters`` is the one way notebooks check their parameters: every name known, every value checked."""
import ast
import json

import pytest

import tradeoff_lib as tl
from tests.conftest import NOTEBOOKS, ROOT
from tradeoff_lib.notebook import parameter_names


def _code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _defaults(path) -> dict:
    cell = next(c for c in _code_cells(path) if "parameters" in c["metadata"].get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body}


def _checked_names(path) -> set[str]:
    """Keyword names passed to ``tl.check_parameters(...)`` anywhere in the notebook's code."""
    names = set()
    for cell in _code_cells(path):
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "tl.check_parameters":
                names |= {kw.arg for kw in node.keywords if kw.arg and kw.arg.isupper()}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_parameter_is_known_checked_and_its_default_valid(path):
    defaults = _defaults(path)
    assert set(defaults) <= set(parameter_names()), "add a rule to _RULES in tradeoff_lib/notebook.py"
    assert _checked_names(path) == set(defaults), "the set-up cell passes every parameter to tl.check_parameters"
    assert tl.check_parameters(**defaults) == defaults


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_imports_a_private_module(path):
    for cell in _code_cells(path):
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                modules += [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else []
                assert not any(part.startswith("_") for m in modules for part in m.split(".")), modules


BAD_VALUES = [  # (name, bad value, exception, words the message must contain)
    ("SEED", -1, ValueError, "SEED must be in"), ("SEED", "0", TypeError, "SEED must be an int"),
    ("DATASET", "imagenet", ValueError, "DATASET must be one of"),
    ("LATENCY_BUDGET_MS", -2, ValueError, "LATENCY_BUDGET_MS must be in"),
    ("SPEEDUP_TARGET", 0, ValueError, "SPEEDUP_TARGET must be in"),
    ("REALTIME_MODE", "firm", ValueError, "REALTIME_MODE"),
    ("ACCURACY_TOLERANCE", 1.0, ValueError, "ACCURACY_TOLERANCE"),
    ("PROGRESS", 1, TypeError, "PROGRESS must be bool"), ("REPORT_DIR", 3, TypeError, "REPORT_DIR"),
    ("WIDTHS", [8, 8], ValueError, "WIDTHS must not repeat"), ("WIDTHS", [], ValueError, "at least one value"),
    ("RANKS", [4, 0], ValueError, r"RANKS[1] must be in [1, inf], got 0"), ("ENERGY", 0.0, ValueError, "ENERGY"),
    ("BITS", [8, 1], ValueError, "BITS[1] must be in [2, 8], got 1"), ("QAT_BITS", 9, ValueError, "QAT_BITS"),
    ("CALIBRATION_BATCHES", [4, 0], ValueError, "CALIBRATION_BATCHES[1] must be in [1, inf], got 0"),
    ("CALIBRATION_BATCHES", 4, TypeError, "CALIBRATION_BATCHES must be list or tuple, got int"),
    ("AMOUNTS", [0.5, 1.0], ValueError, "AMOUNTS[1] must be in [0, 1), got 1"),
    ("SCAN_AMOUNTS", [0.5, 0.8], ValueError, "SCAN_AMOUNTS must include 0.9"),
    ("LR_GRID", [0.01, -1], ValueError, "LR_GRID[1]"), ("PRESET", "blur", ValueError, "PRESET must be one of"),
    ("DIGIT_WEIGHTS", [1.5], ValueError, "DIGIT_WEIGHTS[0] must be in [0, 1], got 1.5"),
    ("L1_LAMBDAS", [-0.1], ValueError, "L1_LAMBDAS[0]"), ("TEMPERATURES", [0], ValueError, "TEMPERATURES[0]"),
    ("ALPHAS", [1.2], ValueError, "ALPHAS[0] must be in [0, 1]"),
    ("SEEDS", [0, 0], ValueError, "SEEDS must not repeat"),
    ("STUDENT_WIDTH", 0, ValueError, "STUDENT_WIDTH"), ("PEAK_LR", 0, ValueError, "PEAK_LR must be in (0, inf]"),
    ("TRAIN_SIZE", 5, ValueError, "TRAIN_SIZE must be in [10, inf], got 5"),
]


@pytest.mark.parametrize("name, value, exc, words", BAD_VALUES, ids=lambda x: x if isinstance(x, str) else None)
def test_a_bad_value_names_the_parameter_and_the_value(name, value, exc, words):
    with pytest.raises(exc) as info:
        tl.check_parameters(**{name: value})
    message = str(info.value)
    assert message.startswith("bad notebook parameter:") and words in message
    if not isinstance(value, list):  # a list's message names the bad item (NAME[i]) and its value, or the list
        shown = f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
        assert shown in message, f"the message must show the value {shown}: {message}"


def test_every_rule_rejects_a_value_of_the_wrong_kind():
    for name in parameter_names():
        with pytest.raises((TypeError, ValueError), match=name):
            tl.check_parameters(**{name: object()})


def test_unknown_names_and_related_parameters():
    with pytest.raises(TypeError, match="unknown notebook parameter.*SEEED.*_RULES"):
        tl.check_parameters(SEED=0, SEEED=1)
    assert tl.check_parameters(WIDTH=8, WIDTHS=[4, 8]) == {"WIDTH": 8, "WIDTHS": [4, 8]}
    with pytest.raises(ValueError, match=r"WIDTHS must contain WIDTH, got WIDTH=3, WIDTHS=\[4, 8\]"):
        tl.check_parameters(WIDTH=3, WIDTHS=[4, 8])
    with pytest.raises(ValueError, match="BIG_WIDTH must be larger than WIDTH"):
        tl.check_parameters(WIDTH=8, BIG_WIDTH=8)


def test_training_sizes_are_bounded_by_the_split_when_given():
    assert tl.check_parameters(TRAIN_SIZE=5000)  # no split given: only the lower bound
    with pytest.raises(ValueError, match="TRAIN_SIZE must be at most the 3500 images of the training split, got 5000"):
        tl.check_parameters(TRAIN_SIZE=5000, n_train=3500)
    with pytest.raises(ValueError, match=r"SIZES\[1\] must be at most the 3500 images .*, got 4000"):
        tl.check_parameters(SIZES=[500, 4000], n_train=3500)
    assert tl.check_parameters(SIZES=[500, 3500], COMPARE_SIZE=1000, n_train=3500)


def test_the_report_rejects_a_bad_parameter_before_running_anything(tmp_path):
    from tradeoff_lib.report import run_series

    with pytest.raises(ValueError, match="bad notebook parameter: EPOCHS must be in"):
        run_series(tmp_path / "out", parameters={"EPOCHS": 0}, notebooks_dir=tmp_path)


def test_papermill_reads_every_parameter_of_every_notebook():
    """A comment papermill cannot parse (an '=' or a quote in it) silently drops the parameter from
    ``report --list`` and from the runner's injection; every assigned name must be readable."""
    import json

    import papermill as pm

    paths = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + [ROOT / "notebooks/balance/balance_model.ipynb"]
    for path in paths:
        cell = next(c for c in json.loads(path.read_text())["cells"]
                    if "parameters" in c["metadata"].get("tags", []))
        assigned = [line.split("=")[0].strip() for line in "".join(cell["source"]).splitlines()
                    if "=" in line and not line.lstrip().startswith("#")]
        assert list(pm.inspect_notebook(str(path))) == assigned, path.name
