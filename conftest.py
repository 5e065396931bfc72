"""Test-session set-up shared by the unit tests and the notebook runs (nbval).

Notebooks executed by ``make test`` write their ledger, plots and checkpoints to a
temporary folder (through ``$TRADEOFF_REPORT_DIR``), never into ``reports/``.
"""
import os
import tempfile

import matplotlib

matplotlib.use("Agg")


def pytest_configure(config):
    if "TRADEOFF_REPORT_DIR" not in os.environ:
        os.environ["TRADEOFF_REPORT_DIR"] = tempfile.mkdtemp(prefix="tradeoff-test-reports-")
