"""Helpers for the notebooks: parameter checks, the report folder, showing source, environment facts.

Used in: every notebook (the set-up cell after the parameters).
"""
from __future__ import annotations

import inspect
import os
import platform
from pathlib import Path
from typing import Any, Callable

import torch

from ._checks import check_choice, check_float, check_int, check_type
from .data import DATASETS

REPO_ROOT = Path(__file__).resolve().parent.parent


def report_dir(path: str | Path | None = None) -> Path:
    """The folder for ledger, plots and checkpoints, created if needed.

    ``path`` if given (papermill passes ``REPORT_DIR``), else ``$TRADEOFF_REPORT_DIR``,
    else ``reports/interactive`` in the repository.
    """
    if path is None:
        path = os.environ.get("TRADEOFF_REPORT_DIR") or REPO_ROOT / "reports" / "interactive"
    check_type("REPORT_DIR", path, (str, Path))
    folder = Path(path).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_RULES: dict[str, Callable[[str, Any], Any]] = {
    "SEED": lambda n, v: check_int(n, v, min_value=0),
    "EPOCHS": lambda n, v: check_int(n, v, min_value=1),
    "DATASET": lambda n, v: check_choice(n, v, DATASETS),
    "LATENCY_BUDGET_MS": lambda n, v: check_float(n, v, low=0.0, low_inclusive=False),
    "THREADS": lambda n, v: check_int(n, v, min_value=1, max_value=os.cpu_count() or 1),
    "REPEATS": lambda n, v: check_int(n, v, min_value=10),
    "REALTIME_MODE": lambda n, v: check_choice(n, v, ("hard", "soft")),
    "MISS_TOLERANCE": lambda n, v: check_float(n, v, low=0.0, high=1.0, high_inclusive=False),
    "ACCURACY_FLOOR": lambda n, v: check_float(n, v, low=0.0, high=1.0),
    "ACCURACY_TOLERANCE": lambda n, v: check_float(n, v, low=0.0, high=1.0, high_inclusive=False),
    "REPORT_DIR": lambda n, v: v if v is None else check_type(n, v, (str, Path)),
    "PROGRESS": lambda n, v: check_type(n, v, bool),
    "TRAIN_THREADS": lambda n, v: check_int(n, v, min_value=1, max_value=os.cpu_count() or 1),
    "N_SEEDS": lambda n, v: check_int(n, v, min_value=1),
}


def check_parameters(**params: Any) -> dict[str, Any]:
    """Validate a notebook's papermill parameters by name; a bad one stops with a clear message.

    Known names (``SEED``, ``EPOCHS``, ``DATASET``, ``LATENCY_BUDGET_MS``, ``THREADS``,
    ``REPEATS``, ``REALTIME_MODE``, ``MISS_TOLERANCE``, ``ACCURACY_FLOOR``, ``ACCURACY_TOLERANCE``,
    ``REPORT_DIR``, ``PROGRESS``, ``TRAIN_THREADS``, ``N_SEEDS``) are checked against their rules;
    others pass through.
    """
    for name, value in params.items():
        rule = _RULES.get(name)
        if rule is not None:
            try:
                rule(name, value)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"bad notebook parameter: {exc}") from None
    return params


TEST_PARAMETERS_KEY = ("tradeoff", "test_parameters")
"""Where a notebook keeps its smaller test parameters: ``nb.metadata["tradeoff"]["test_parameters"]``."""


def notebook_test_parameters(metadata: dict) -> dict[str, Any]:
    """The test parameters a notebook's metadata declares (``{}`` if none); ``make test`` runs with them."""
    check_type("metadata", metadata, dict)
    found = metadata.get(TEST_PARAMETERS_KEY[0], {}).get(TEST_PARAMETERS_KEY[1], {})
    check_type("test_parameters", found, dict)
    return dict(found)


def apply_test_parameters(source: str, overrides: dict[str, Any]) -> str:
    """The ``parameters`` cell ``source`` with the assignments of ``overrides`` replaced by their test values.

    Each name must be assigned on a line of its own (``NAME = value  # comment``), as in every
    parameters cell of the series; the comment is kept. The values are written with ``repr``.
    A name the cell does not assign raises ``ValueError`` (a typo would silently test nothing).
    """
    import re

    check_type("source", source, str)
    check_type("overrides", overrides, dict)
    lines = source.splitlines()
    for name, value in overrides.items():
        check_type("overrides key", name, str)
        pattern = re.compile(rf"^{re.escape(name)}\s*=\s*(.*?)(\s+#.*)?$")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        if len(hits) != 1:
            raise ValueError(f"test parameter {name!r} must be assigned once in the parameters cell, "
                             f"found {len(hits)} assignments")
        comment = pattern.match(lines[hits[0]]).group(2) or ""
        lines[hits[0]] = f"{name} = {value!r}{comment}"
    return "\n".join(lines)


def show_source(obj: Callable | type) -> Any:
    """Display the source code of a package function or class (the one source of truth).

    Returns an ``IPython.display.Code`` object in a notebook, else the source text.
    """
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)):
        raise TypeError(f"obj must be a function, method or class, got {type(obj).__name__}")
    source = inspect.getsource(obj)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:  # pragma: no cover - IPython is installed with the dev extra
        return source


def environment_info() -> dict[str, Any]:
    """Versions and machine facts that every report should state."""
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "cpu": _cpu_name(), "cpu_capability": cpu_capability(), "cpu_isa": ",".join(cpu_isa_flags()),
            "platform": platform.platform(),
            "quantized_engines": ",".join(torch.backends.quantized.supported_engines),
            "cuda": torch.cuda.is_available()}
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def cpu_capability() -> str:
    """The instruction-set level PyTorch's CPU kernels run at: ``"AVX2"``, ``"AVX512"``, ``"DEFAULT"``...

    ``$ATEN_CPU_CAPABILITY`` lowers it (``avx2`` emulates a laptop on a server), and
    speed *ratios* (int8 vs. fp32 above all) depend on it, so every report states it.
    """
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # pragma: no cover - torch < 2.1
        return "unknown"


_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_isa_flags() -> list[str]:
    """The vector-instruction flags of this CPU that matter for fp32/int8 speed (from ``/proc/cpuinfo``).

    ``avx512_vnni``/``avx_vnni`` give fast int8 dot products, ``amx_*`` int8/bf16 matrix tiles;
    without them (AVX2 only) int8 gains much less over fp32. Empty where ``/proc/cpuinfo`` is absent.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [f for f in _ISA_FLAGS if f in present]
    except OSError:
        pass
    return []


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
