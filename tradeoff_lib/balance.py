"""Balance your own model: one command that writes the speed/accuracy trade-off report for any classifier.

    python -m tradeoff_lib.balance torchvision:resnet18 --input-shape 3,224,224 --speedup 2 --quick
    python -m tradeoff_lib.balance my_package.models:build --data my_images/ --budget-ms 15 --mode hard
    python -m tradeoff_lib.balance exported.pt2 --input-shape 3,64,64 --speedup 3

MODEL is ``torchvision:<name>`` (random weights unless ``--weights FILE``), ``module.path:factory``
(a callable returning an ``nn.Module``) or a ``.pt2`` file from ``torch.export.save``. The
command checks the inputs (bad input: a one-line message and exit status 2), executes
``notebooks/balance/balance_model.ipynb`` with papermill into a staging folder, exports it to
HTML, writes ``index.html`` and ``summary.json``, and only then renames the staging folder to
``--out`` (default ``reports/balance/<model>``), so a failed run never leaves half a report.

Used in: ``make balance MODEL=...``; README section "Balance your own model".
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .notebook import REPO_ROOT, check_parameters
from .io import atomic_write_bytes

NOTEBOOK = REPO_ROOT / "notebooks" / "balance" / "balance_model.ipynb"
DEFAULT_ROOT = REPO_ROOT / "reports" / "balance"


def default_out(model: str) -> Path:
    """``reports/balance/<model>`` with the model spec turned into a safe folder name."""
    name = Path(model).stem if model.endswith(".pt2") else model
    return DEFAULT_ROOT / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "model")


def check_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the command line and turn it into the notebook's parameters; ``ValueError``/``TypeError`` if bad."""
    from . import anymodel
    from .imagefolder import image_shape

    if args.budget_ms is not None and args.budget_ms <= 0:
        raise ValueError(f"--budget-ms must be a positive number of milliseconds, got {args.budget_ms:g}")
    if args.speedup is not None and args.speedup <= 0:
        raise ValueError(f"--speedup must be positive (budget = fp32 latency / N), got {args.speedup:g}")
    if not 0 <= args.accuracy_tolerance < 100:
        raise ValueError(f"--accuracy-tolerance must be in [0, 100) points, got {args.accuracy_tolerance:g}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    model = anymodel.load_model(args.model, weights=args.weights)
    data = None
    if args.data is not None:
        data = Path(args.data).expanduser().resolve()
        if not data.is_dir():
            raise ValueError(f"--data: {str(args.data)!r} is not a folder")
        found = image_shape(data)
    if args.input_shape is not None:
        shape = anymodel.parse_input_shape(args.input_shape)
    elif data is not None:
        shape = found
    else:
        raise ValueError("--input-shape C,H,W is required without --data (e.g. --input-shape 3,224,224)")
    classes = anymodel.check_input_shape(model, shape)
    if data is not None:
        folders = data / "train" if (data / "train").is_dir() else data
        n_data = sum(1 for p in folders.iterdir() if p.is_dir())
        if n_data != classes:
            raise ValueError(f"--data: {str(args.data)!r} has {n_data} classes but the model returns {classes} logits")
    absolute = (lambda p: None if p is None else str(Path(p).expanduser().resolve()))  # noqa: E731
    params = {"MODEL": absolute(args.model) if args.model.endswith(".pt2") else args.model,
            "WEIGHTS": absolute(args.weights), "DATA": None if data is None else str(data),
            "INPUT_SHAPE": ",".join(map(str, shape)), "LATENCY_BUDGET_MS": args.budget_ms,
            "SPEEDUP_TARGET": None if args.budget_ms is not None else (args.speedup or 2.0), "REALTIME_MODE": args.mode,
            "ACCURACY_TOLERANCE": args.accuracy_tolerance / 100, "THREADS": args.threads, "QUICK": args.quick,
            "EPOCHS": args.epochs, "SEED": args.seed, "PROGRESS": False}
    return check_parameters(**params)


def write_index(out_dir: Path, summary: dict[str, Any]) -> Path:
    """``index.html``: the choice, the candidates table, the plot, links to the notebook, the environment."""
    from .report import _table

    choice = summary.get("choice")
    req = summary["requirement"]
    head = (f"<p>Requirement: {req['mode']} deadline of {req['budget_ms']:.3f} ms per call at batch 1 "
            f"({html.escape(req['budget_from'])}).</p>")
    if choice:
        head += (f"<p><b>Ship {html.escape(choice['name'])}</b>: {html.escape(choice['why'])}. "
                 f"Run it with {html.escape(choice['production']['runtime'])} from "
                 f"<a href='{choice['production']['file']}'>{html.escape(choice['production']['file'])}</a>.</p>")
        if choice.get("test"):
            head += f"<p>Test (measured once, after choosing): {html.escape(json.dumps(choice['test']))}</p>"
    else:
        head += f"<p><b>No candidate meets the requirement</b>: {html.escape(summary.get('why', ''))}</p>"
    keys = ("name", "status", "p50_ms", "p99_ms", "max_ms", "meets_deadline", "speedup_p50", "size_bytes", "flops",
            "val_accuracy", "val_f1", "reason")
    rows = [{k: (f"{r[k]:.4g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in keys}
            for r in summary["candidates"]]
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>Balance {html.escape(summary['model'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
img{{max-width:640px}}</style></head><body>
<h1>Balance {html.escape(summary['model'])} (input {html.escape(summary['input_shape'])})</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by <code>python -m tradeoff_lib.balance</code>; every number was
measured in this run, side by side in one interleaved latency run. Full report:
<a href='balance_model.html'>balance_model.html</a> (<a href='balance_model.ipynb'>ipynb</a>),
data: <a href='summary.json'>summary.json</a>.</p>
<h2>Choice</h2>{head}
<h2>Candidates</h2>{_table(rows)}
<h2>Trade-off</h2><img src='plots/pareto.png' alt='Pareto plot'>
<h2>Environment</h2>{_table([summary['environment']])}
</body></html>"""
    return atomic_write_bytes(out_dir / "index.html", page.encode())


def run(params: dict[str, Any], out: Path, *, notebook: Path = NOTEBOOK, timeout_s: int = 1800) -> dict[str, Any]:
    """Execute the notebook into a staging folder next to ``out``, export it, then rename it to ``out``."""
    from .report import _swap_in, export_html, keep_failed, run_notebook

    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    # the kernel runs in the notebook's folder: keep the caller's folder importable for module:factory models
    paths = [os.getcwd(), str(REPO_ROOT)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    try:
        seconds = run_notebook(notebook, staging, params, timeout_s=timeout_s)
        export_html(staging / notebook.name)
        summary = json.loads((staging / "summary.json").read_text())
        summary["notebook_run_time_s"] = round(seconds, 1)
        atomic_write_bytes(staging / "summary.json", json.dumps(summary, indent=2).encode())
        write_index(staging, summary)
    except BaseException:
        keep_failed(staging, out)
        raise
    _swap_in(staging, out)
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tradeoff_lib.balance", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="torchvision:<name>, module.path:factory or a .pt2 file")
    p.add_argument("--weights", help="state dict file for the model (loaded with weights_only=True)")
    p.add_argument("--data", help="ImageFolder (class sub-folders; train/val/test sub-folders kept if present)")
    p.add_argument("--input-shape", metavar="C,H,W", help="input shape without the batch (required without --data)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-ms", type=float, help="latency budget per call at batch 1, in ms")
    budget.add_argument("--speedup", type=float, help="budget = the model's own fp32 p50 latency / N (default 2)")
    p.add_argument("--mode", choices=("hard", "soft"), default="soft",
                   help="hard: every measured call within budget; soft: at most 1%% over it (default)")
    p.add_argument("--accuracy-tolerance", type=float, default=1.0, metavar="PTS",
                   help="validation accuracy points a candidate may lose vs. fp32 (default 1)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for the latency runs (default 1)")
    p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs after pruning/low-rank (with --data)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split, calibration and fine-tuning")
    p.add_argument("--out", type=Path, help="report folder (default reports/balance/<model>)")
    p.add_argument("--quick", action="store_true",
                   help="a first look: no torch.compile/PT2E, 2 pruning ratios, 30 timed calls, <= 1000 images/split")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .report import NotebookFailed

    args = parser().parse_args(argv)
    start = time.perf_counter()
    try:
        params = check_inputs(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    out = args.out or default_out(args.model)
    print(f"balancing {args.model} (input {params['INPUT_SHAPE']}) into {out} ...", flush=True)
    try:
        summary = run(params, out)
    except NotebookFailed as exc:
        print(f"FAILED: {exc}\nThe partial run is in {Path(out).resolve().with_name('.' + Path(out).name + '.failed')}",
              file=sys.stderr)
        return 1
    choice = summary.get("choice")
    measured = sum(r["status"] == "measured" for r in summary["candidates"])
    print(f"{measured} candidates measured; choice: {choice['name'] if choice else 'none meets the requirement'}; "
          f"report: {Path(out) / 'index.html'} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
