"""Helpers for the notebooks: parameter checks, the report folder, showing source, environment facts.

Used in: every notebook.
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


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[str, Any], Any]:
    return lambda n, v: check_int(n, v, min_value=lo, max_value=hi)


def _num(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False,
         open_hi: bool = False) -> Callable[[str, Any], Any]:
    return lambda n, v: check_float(n, v, low=lo, high=hi, low_inclusive=not open_lo, high_inclusive=not open_hi)


def _one_of(*choices: Any) -> Callable[[str, Any], Any]:
    return lambda n, v: check_choice(n, v, choices)


def _optional(rule: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda n, v: v if v is None else rule(n, v)


def _list_of(rule: Callable[[str, Any], Any], *, unique: bool = False,
             must_hold: Any = None) -> Callable[[str, Any], Any]:
    """A non-empty list (or tuple) whose items all pass ``rule``; an item's error names ``NAME[i]``."""
    def check(name: str, values: Any) -> Any:
        check_type(name, values, (list, tuple))
        if not values:
            raise ValueError(f"{name} must hold at least one value, got {values!r}")
        for i, value in enumerate(values):
            rule(f"{name}[{i}]", value)
        if unique and len(set(values)) != len(values):
            raise ValueError(f"{name} must not repeat a value, got {values!r}")
        if must_hold is not None and must_hold not in values:
            raise ValueError(f"{name} must include {must_hold!r} (an exercise reads it), got {values!r}")
        return values
    return check


def _augmentation_preset(name: str, value: Any) -> Any:
    from .techniques.augmentation import PRESETS

    return check_choice(name, value, PRESETS)


_POSITIVE = _num(0.0, open_lo=True)
_FRACTION = _num(0.0, 1.0)            # [0, 1]
_AMOUNT = _num(0.0, 1.0, open_hi=True)  # [0, 1): a fraction removed, never everything
_BITS = _int(2, 8)

# Every parameter of every notebook: its name, and the rule its value must pass.
_RULES: dict[str, Callable[[str, Any], Any]] = {
    # shared by the series
    "SEED": _int(0),
    "DATASET": _one_of(*DATASETS),
    "EPOCHS": _int(1),
    "LATENCY_BUDGET_MS": _optional(_POSITIVE),    # None: the budget comes from SPEEDUP_TARGET
    "SPEEDUP_TARGET": _optional(_POSITIVE),       # budget = the baseline's latency / SPEEDUP_TARGET
    "FINAL_REPEATS": _int(100),
    "SCHEDULE": _one_of("constant", "one-cycle", "warmup-cosine"),
    "KD_TEMPERATURE": _POSITIVE,
    "KD_ALPHA": _FRACTION,
    "THREADS": lambda n, v: check_int(n, v, min_value=1, max_value=os.cpu_count() or 1),
    "REPEATS": _int(10),
    "REALTIME_MODE": _one_of("hard", "soft"),
    "MISS_TOLERANCE": _num(0.0, 1.0, open_hi=True),
    "ACCURACY_TOLERANCE": _num(0.0, 1.0, open_hi=True),
    "REPORT_DIR": _optional(lambda n, v: check_type(n, v, (str, Path))),
    "PROGRESS": lambda n, v: check_type(n, v, bool),
    # models and training
    "WIDTH": _int(1),
    "WIDTHS": _list_of(_int(1), unique=True),
    "BIG_WIDTH": _int(1),
    "NARROW_WIDTH": _int(1),
    "STUDENT_WIDTH": _int(1),
    "STUDENT_EPOCHS": _int(1),
    "N_SEEDS": _int(1),
    "SEEDS": _list_of(_int(0), unique=True),
    "LR": _POSITIVE,
    "PEAK_LR": _POSITIVE,
    "BASE_LR": _POSITIVE,
    "LR_GRID": _list_of(_POSITIVE),
    "FT_EPOCHS": _int(1),
    "FT_LR": _POSITIVE,
    "TARGET_ACCURACY": _FRACTION,
    "RESNET_REPEATS": _int(2),
    # 01 low-rank
    "RANKS": _list_of(_int(1)),
    "ENERGY": _num(0.0, 1.0, open_lo=True),
    # 02 quantization
    "BITS": _list_of(_BITS),
    "QAT_BITS": _BITS,
    "QAT_IMAGES": _int(1),
    "CALIBRATION_BATCHES": _list_of(_int(1)),  # 02: the batch counts of the calibration sweep
    "CALIBRATION_BATCH_SIZE": _int(1),
    "NUM_CALIBRATION_BATCHES": _int(1),
    # 03 pruning
    "AMOUNTS": _list_of(_AMOUNT),
    "SCAN_AMOUNTS": _list_of(_AMOUNT, must_hold=0.9),
    "SPARSE_AMOUNT": _AMOUNT,
    "CHANNEL_AMOUNT": _AMOUNT,
    "ITER_AMOUNT": _AMOUNT,
    "ITER_STEPS": _int(1),
    # 05 early stopping
    "TRAIN_SIZE": _int(10),
    "PATIENCE": _int(1),
    "MIN_DELTA": _num(0.0),
    "GL_ALPHA": _POSITIVE,
    "LOSS_THRESHOLD": _POSITIVE,
    # 06 augmentation
    "SIZES": _list_of(_int(20)),
    "COMPARE_SIZE": _int(20),
    "PRESET": _augmentation_preset,
    # 07 multi-task
    "DIGIT_WEIGHTS": _list_of(_FRACTION),
    "L1_LAMBDAS": _list_of(_num(0.0)),
    "SPARSITY_TOL": _num(0.0),
    # 08 distillation
    "TEMPERATURES": _list_of(_POSITIVE),
    "ALPHAS": _list_of(_FRACTION),
    # 09 deployment runtimes
    "GEMM_SIZE": _int(64),
    "COPY_MB": _int(8),
    "COMPILE": lambda n, v: check_type(n, v, bool),
    # 08 distillation regimes
    "LRS": _list_of(_POSITIVE),
    "TUNE_SEEDS": _list_of(_int(0), unique=True),
    "N_LABELLED": _int(10),
    "TEACHER_DATA": _one_of("all", "labelled"),
    "WORKERS": lambda n, v: check_int(n, v, min_value=1, max_value=max(os.cpu_count() or 1, 2)),
    # notebooks/balance/balance_model.ipynb (python -m tradeoff_lib.balance)
    "MODEL": lambda n, v: check_type(n, v, str),
    "WEIGHTS": _optional(lambda n, v: check_type(n, v, str)),
    "DATA": _optional(lambda n, v: check_type(n, v, str)),
    "INPUT_SHAPE": _optional(lambda n, v: check_type(n, v, str)),
    "QUICK": lambda n, v: check_type(n, v, bool),
    "TRAIN_THREADS": lambda n, v: check_int(n, v, min_value=1, max_value=os.cpu_count() or 1),
}

# Checks that relate two parameters, applied when a notebook passes both: (names, holds, what it means).
_RELATIONS: list[tuple[tuple[str, ...], Callable[..., bool], str]] = [
    (("WIDTH", "WIDTHS"), lambda w, ws: w in ws, "WIDTHS must contain WIDTH"),
    (("WIDTH", "BIG_WIDTH"), lambda w, big: big > w, "BIG_WIDTH must be larger than WIDTH"),
]

# Parameters that count training images: with ``n_train`` they may not exceed the training split.
_TRAINING_SIZES = ("TRAIN_SIZE", "SIZES", "COMPARE_SIZE")


def parameter_names() -> tuple[str, ...]:
    """Every notebook parameter name ``check_parameters`` knows, sorted."""
    return tuple(sorted(_RULES))


def check_parameters(*, n_train: int | None = None, **params: Any) -> dict[str, Any]:
    """Validate a notebook's papermill parameters by name: the one way every notebook checks its parameters.

    Every name must be known (see ``parameter_names()``; a new notebook parameter gets a rule
    in ``_RULES`` of this module) and its value must pass that rule; two related parameters
    passed together must agree (e.g. ``WIDTHS`` contains ``WIDTH``). With ``n_train`` (the
    size of the loaded training split), ``TRAIN_SIZE``, ``SIZES`` and ``COMPARE_SIZE`` may
    not exceed it. A bad value stops the notebook with a ``ValueError``/``TypeError`` that
    names the parameter and the value.

    Returns:
        ``params`` unchanged.
    """
    unknown = sorted(set(params) - set(_RULES))
    if unknown:
        raise TypeError(f"unknown notebook parameter(s) {', '.join(unknown)}: add a rule to _RULES in "
                        f"tradeoff_lib/notebook.py (known: {', '.join(parameter_names())})")
    try:
        for name, value in params.items():
            _RULES[name](name, value)
        for names, holds, meaning in _RELATIONS:
            if set(names) <= set(params) and not holds(*(params[n] for n in names)):
                raise ValueError(f"{meaning}, got " + ", ".join(f"{n}={params[n]!r}" for n in names))
        if n_train is not None:
            check_int("n_train", n_train, min_value=1)
            for name in sorted(set(_TRAINING_SIZES) & set(params)):
                values = params[name] if name == "SIZES" else [params[name]]
                for i, value in enumerate(values):
                    if value > n_train:
                        shown = f"{name}[{i}]" if name == "SIZES" else name
                        raise ValueError(f"{shown} must be at most the {n_train} images of the training split, "
                                         f"got {value}")
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
