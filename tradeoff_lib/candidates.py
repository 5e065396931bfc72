"""Candidates for one model: build every applicable variant, measure them side by side, choose, export.

A *candidate* is the model itself (fp32 eager), a deployment runtime of it (``torch.compile``,
ONNX Runtime fp32/int8, from ``tradeoff_lib.runtimes`` when present), its int8 version,
channel-pruned copies at a few ratios (fine-tuned briefly when data is given) and a low-rank
factorization of its large Linear layers. One that cannot be built keeps the one-line reason.

The choice follows the course's rules: the requirement is a latency budget (hard: every
measured call within it; soft: at most ``miss_tolerance`` of the calls over it), the accuracy
floor is the fp32 model's *validation* accuracy minus a tolerance, the pick is the most
accurate candidate on validation that meets both, and only the pick (and the fp32 model) are
then measured once on the test split. Without data no accuracy is known, so only candidates
that compute the same function as the model (fp32 runtimes) can be chosen; lossy ones that fit
the budget are listed to verify with data.

Used in: ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from . import anymodel
from ._checks import check_choice, check_float
from .cost import clone_model, count_flops, count_params, size_bytes
from .latency import LatencyStats, deadline_verdict

EXACT_RUNTIMES = ("torch.compile", "onnxruntime")


@dataclass
class Candidate:
    """One variant of the model: ``model`` is None when it could not be built, and ``reason`` says why."""

    name: str
    technique: str
    model: nn.Module | None = None
    reason: str | None = None
    exact: bool = False


def _try(name: str, technique: str, build: Callable[[], nn.Module], *, exact: bool = False) -> Candidate:
    try:
        return Candidate(name, technique, build(), exact=exact)
    except Exception as exc:  # a technique that does not apply to this model is reported, not fatal
        return Candidate(name, technique, reason=anymodel._line(exc, 240))


def runtime_candidates(model: nn.Module, x: torch.Tensor, *, calibration=None, threads: int = 1,
                       include: Sequence[str] | None = None) -> list[Candidate]:
    """The runtime variants of ``tradeoff_lib.runtimes`` (if that module exists), eager excluded."""
    try:
        from . import runtimes
    except ImportError:
        return [Candidate("runtimes", "runtime", reason="tradeoff_lib.runtimes is not installed in this version")]
    names = [n for n in (include or getattr(runtimes, "RUNTIMES", EXACT_RUNTIMES)) if n != "eager"]
    variants = runtimes.runtime_variants(model, x, calibration=calibration, threads=threads, include=names)
    return [Candidate(name, "runtime", value, None, name in EXACT_RUNTIMES) if isinstance(value, nn.Module)
            else Candidate(name, "runtime", reason=str(value)) for name, value in variants.items()]


def build_candidates(model: nn.Module, x: torch.Tensor, *, calibration, prune_ratios: Sequence[float] = (0.25, 0.5),
                     rank_fraction: float = 0.25, runtimes: Sequence[str] | None = None, threads: int = 1,
                     fine_tune: Callable[[nn.Module, str], None] | None = None) -> list[Candidate]:
    """Every candidate for ``model`` (fp32 first); ``fine_tune(model, name)`` runs after pruning/low-rank."""
    def tuned(name, build):
        def run():
            out = build()
            if fine_tune is not None:
                fine_tune(out, name)
            return out
        return run

    cands = [Candidate("fp32 eager", "fp32", model, exact=True)]
    if fine_tune is not None:  # the control: the same fine-tune without any compression
        name = "fp32 + same fine-tune"
        cands.append(_try(name, "fp32_fine_tuned", tuned(name, lambda: clone_model(model))))
    cands += runtime_candidates(model, x, calibration=calibration, threads=threads, include=runtimes)
    cands.append(int8_candidate(model, x, calibration))
    for r in prune_ratios:
        name = f"prune {r:.0%} channels"
        cands.append(_try(name, "prune_channels", tuned(name, lambda r=r: anymodel.prune_channels_auto(model, r, x))))
    name = f"low-rank Linear (rank {rank_fraction:.0%})"
    cands.append(_try(name, "lowrank",
                      tuned(name, lambda: anymodel.factorize_large_linear(model, rank_fraction=rank_fraction))))
    return cands


def int8_candidate(model: nn.Module, x: torch.Tensor, calibration) -> Candidate:
    """torch.ao int8 (static FX) when it applies, else the fastest other real int8 method, named after it."""
    first = _try("int8 (torch.ao fx_static)", "int8", lambda: anymodel.int8_auto(model, calibration, x,
                                                                                 method="fx_static"))
    if first.model is not None:
        return first
    other = _try("int8", "int8", lambda: anymodel.int8_auto(model, calibration, x))
    if other.model is None:
        return Candidate("int8", "int8", reason=f"fx_static: {first.reason}; auto: {other.reason}")
    other.name = f"int8 ({anymodel.applied(other.model)[-1].get('method')})"
    return other


def model_size(model: nn.Module) -> int:
    """Bytes to store the candidate: the ``.onnx`` file for ONNX Runtime, else its state dict."""
    sized = getattr(model, "serialized_size_bytes", None)
    return int(sized()) if callable(sized) else size_bytes(model)


def validation_metrics(model: nn.Module, splits, *, seed: int = 0, n_boot: int = 1000) -> dict[str, float]:
    """Accuracy and macro-F1 on ``splits.val`` with bootstrap 95 % intervals (``val_*`` keys)."""
    from .data import eval_loader
    from .metrics import accuracy, bootstrap_ci
    from .training import predict

    y_true, y_pred = predict(model, eval_loader(splits.val))
    k = splits.info.num_classes
    acc = bootstrap_ci(y_true, y_pred, "accuracy", n_boot=n_boot, seed=seed, num_classes=k)
    f1 = bootstrap_ci(y_true, y_pred, "f1_macro", n_boot=n_boot, seed=seed, num_classes=k)
    return {"val_accuracy": accuracy(y_true, y_pred), "val_accuracy_low": acc.low, "val_accuracy_high": acc.high,
            "val_f1": f1.value, "val_f1_low": f1.low, "val_f1_high": f1.high, "val_n": int(len(y_true))}


def candidate_rows(cands: Sequence[Candidate], stats: dict[str, LatencyStats], x: torch.Tensor, *, budget_ms: float,
                   mode: str = "soft", miss_tolerance: float = 0.01, splits=None, seed: int = 0) -> list[dict]:
    """One row per candidate: latency p50/p99/max, deadline verdict, size, params, FLOPs, speedup vs fp32
    and, with ``splits``, validation accuracy/F1 with CIs; unbuilt candidates carry their ``reason``."""
    check_choice("mode", mode, ("hard", "soft"))
    check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False)
    base = stats[cands[0].name]
    ref_flops = count_flops(cands[0].model, x)
    rows = []
    for c in cands:
        if c.model is None:
            rows.append({"name": c.name, "technique": c.technique, "status": "not applicable", "reason": c.reason})
            continue
        s = stats[c.name]
        verdict = deadline_verdict(s, budget_ms, mode=mode, tolerance=miss_tolerance)
        try:
            flops = count_flops(c.model, x) or None
        except Exception:  # quantized kernels and ONNX sessions are invisible to the counter
            flops = None
        row = {"name": c.name, "technique": c.technique, "status": "measured", "exact": c.exact,
               "p50_ms": s.p50_ms, "p99_ms": s.p99_ms, "max_ms": s.max_ms, "miss_rate": verdict.miss_rate,
               "meets_deadline": verdict.met, "speedup_p50": base.p50_ms / s.p50_ms, "size_bytes": model_size(c.model),
               "params": count_params(c.model), "flops": flops if flops is not None else ref_flops,
               "flops_counted": flops is not None, "applied": anymodel.applied(c.model),
               "method": next((e.get("method") or e.get("runtime") for e in reversed(anymodel.applied(c.model))
                               if e.get("method") or e.get("runtime")), None)}
        if splits is not None:
            row.update(validation_metrics(c.model, splits, seed=seed))
        rows.append(row)
    return rows


def choose(rows: Sequence[dict], *, accuracy_tolerance: float = 0.01) -> tuple[dict | None, str]:
    """The candidate to ship and why: among those meeting the deadline, with validation data the most
    accurate (val macro-F1, ties to the faster) whose val accuracy is at most ``accuracy_tolerance`` below
    fp32's; without data the fastest exact one (same function as the model)."""
    check_float("accuracy_tolerance", accuracy_tolerance, low=0.0, high=1.0, high_inclusive=False)
    measured = [r for r in rows if r["status"] == "measured"]
    fits = [r for r in measured if r["meets_deadline"]]
    if measured and "val_accuracy" in measured[0]:
        floor = measured[0]["val_accuracy"] - accuracy_tolerance
        ok = [r for r in fits if r["val_accuracy"] >= floor - 1e-12]
        best = max(ok, key=lambda r: (r["val_f1"], -r["p50_ms"]), default=None)
        why = (f"most accurate on validation (macro-F1) among the {len(fits)} candidates meeting the deadline "
               f"with validation accuracy >= {floor:.3f}")
        if best is None:
            why = f"none of the {len(fits)} candidates meeting the deadline keeps validation accuracy >= {floor:.3f}"
        return best, why
    exact = [r for r in fits if r["exact"]]
    best = min(exact, key=lambda r: r["p50_ms"], default=None)
    lossy = [r["name"] for r in fits if not r["exact"]]
    why = ("fastest candidate meeting the deadline that computes the same function as the model (no data was "
           "given, so lossy candidates cannot be chosen)") if best else "no exact (fp32) candidate meets the deadline"
    return best, why + (f"; lossy candidates that meet it, to verify with --data: {', '.join(lossy)}" if lossy else "")


def plot_candidates(rows: Sequence[dict], *, budget_ms: float, path: str | Path | None = None):
    """Validation F1 (or size, without data) vs. p50 latency of the measured candidates, the Pareto front
    (faster and better) dashed and the budget as a red line."""
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    measured = [r for r in rows if r["status"] == "measured"]
    key = "val_f1" if measured and "val_f1" in measured[0] else "size_bytes"
    better = (lambda a, b: a > b) if key == "val_f1" else (lambda a, b: a < b)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, r in enumerate(measured):
        y = r[key] if key == "val_f1" else r[key] / 1e6
        ax.plot(r["p50_ms"], y, "o", color=f"C{i % 10}", label=r["name"])
    front, best = [], None
    for r in sorted(measured, key=lambda r: r["p50_ms"]):
        if best is None or better(r[key], best):
            front.append(r)
            best = r[key]
    ys = [r[key] if key == "val_f1" else r[key] / 1e6 for r in front]
    ax.plot([r["p50_ms"] for r in front], ys, "--", color="0.4", zorder=0, label="Pareto front")
    ax.axvline(budget_ms, color="red", lw=1.2, label=f"budget {budget_ms:.3g} ms")
    ax.set_xlabel("latency p50 (ms, batch 1)")
    ax.set_ylabel("validation macro-F1" if key == "val_f1" else "size (MB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if path is not None:
        save_figure(fig, path)
    return fig


def export_for_production(cand: Candidate, x: torch.Tensor, out_dir: str | Path) -> dict[str, str]:
    """Write the chosen candidate to ``out_dir`` in the form to deploy: its ``.onnx`` file for ONNX Runtime,
    else a ``torch.export`` program (``model.pt2``), else its state dict; returns ``{runtime, file, how}``."""
    out_dir = Path(out_dir)
    onnx_path = getattr(cand.model, "path", None)
    if isinstance(onnx_path, Path) and onnx_path.suffix == ".onnx" and onnx_path.exists():
        target = out_dir / ("model_int8.onnx" if "int8" in cand.name else "model.onnx")
        shutil.copyfile(onnx_path, target)
        return {"runtime": "onnxruntime (CPUExecutionProvider)", "file": target.name,
                "how": f"onnxruntime.InferenceSession('{target.name}').run(None, {{input_name: x}})"}
    model = getattr(cand.model, "inner", cand.model)  # a torch.compile wrapper keeps the eager copy
    runtime = "torch.compile" if model is not cand.model else "PyTorch eager"
    try:
        program = torch.export.export(model.eval(), (x,))
        torch.export.save(program, out_dir / "model.pt2")
        return {"runtime": runtime, "file": "model.pt2",
                "how": "torch.export.load('model.pt2').module()(x)" + (" under torch.compile" if model is not
                                                                       cand.model else "")}
    except Exception as exc:
        torch.save(model.state_dict(), out_dir / "model_state_dict.pt")
        return {"runtime": runtime, "file": "model_state_dict.pt",
                "how": f"rebuild with the same technique and load_state_dict (torch.export failed: "
                       f"{anymodel._line(exc, 120)})"}
