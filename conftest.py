"""Test-session set-up shared by the unit tests and the notebook runs (nbval).

Notebooks executed by ``make test`` write their ledger, plots and checkpoints to a
temporary folder (through ``$TRADEOFF_REPORT_DIR``), never into ``reports/``.

A notebook may declare smaller parameters for the test run in its metadata,
``nb.metadata["tradeoff"]["test_parameters"]`` (e.g. ``{"EPOCHS": 2}``): the test session
rewrites its ``parameters`` cell with them, so ``make test`` stays fast while every check
cell still runs. ``make report`` (papermill) always runs the full parameters, and so does
``make test`` with ``TRADEOFF_FULL_PARAMETERS=1``.
"""
import os
import tempfile

import matplotlib

matplotlib.use("Agg")


def pytest_configure(config):
    if "TRADEOFF_REPORT_DIR" not in os.environ:
        os.environ["TRADEOFF_REPORT_DIR"] = tempfile.mkdtemp(prefix="tradeoff-test-reports-")


def pytest_collection_modifyitems(session, config, items):
    """Put each notebook's test parameters into its parameters cell (see the module docstring)."""
    if os.environ.get("TRADEOFF_FULL_PARAMETERS"):
        return
    from tradeoff_lib.notebook import apply_test_parameters, notebook_test_parameters

    for item in items:
        cell, nb = getattr(item, "cell", None), getattr(item.parent, "nb", None)
        if cell is None or nb is None or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        overrides = notebook_test_parameters(dict(nb.metadata))
        if overrides:
            cell.source = apply_test_parameters(cell.source, overrides)
