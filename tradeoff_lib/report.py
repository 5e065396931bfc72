"""Run the notebook series headless with papermill and build ``reports/``.

    python -m tradeoff_lib.report                      # every notebook, in order
    python -m tradeoff_lib.report --only 00 03         # some of them (the rest of the report is kept)
    python -m tradeoff_lib.report -p SEED 1 -p EPOCHS 2

Each notebook is executed into a staging folder, then exported to HTML; the ledger,
plots and checkpoints the notebooks write land there too. Only when every notebook
has succeeded does the staging folder replace ``reports/`` (two renames), so a
failed run leaves the previous report intact. A failure names the notebook and the
cell, and the process exits with status 1.

Used in: ``make report``.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .io import atomic_write_bytes
from .notebook import REPO_ROOT, check_parameters, environment_info
from .timing import ENV as TIMING_ENV
from .timing import KINDS as TIMING_KINDS

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
DEFAULT_OUT = REPO_ROOT / "reports"


class NotebookFailed(RuntimeError):
    """A notebook of the series raised; the message names the notebook and the cell."""


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The series in order: ``NN_*.ipynb`` files sorted by name."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(notebooks: Sequence[Path], only: Sequence[str] | None) -> list[Path]:
    """Notebooks whose name starts with one of ``only`` (e.g. ``"03"``), all if ``only`` is empty."""
    if not only:
        return list(notebooks)
    chosen = [nb for nb in notebooks if any(nb.name.startswith(prefix) for prefix in only)]
    unknown = [prefix for prefix in only if not any(nb.name.startswith(prefix) for nb in notebooks)]
    if unknown:
        raise ValueError(f"--only {' '.join(unknown)} matches no notebook; known: "
                         f"{', '.join(nb.stem for nb in notebooks)}")
    return chosen


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters`` cell."""
    import papermill as pm

    return {name: spec["default"] for name, spec in pm.inspect_notebook(str(path)).items()}


def parse_parameter(value: str) -> Any:
    """Turn a command-line value into a Python value the way papermill's ``-p`` does (YAML)."""
    import yaml

    return yaml.safe_load(value)


def run_notebook(path: Path, out_dir: Path, parameters: dict[str, Any], *, timeout_s: int = 900) -> float:
    """Execute one notebook into ``out_dir`` with ``parameters``; returns the wall time in seconds."""
    import papermill as pm

    declared = notebook_parameters(path)
    params = {k: v for k, v in parameters.items() if k in declared}
    params["REPORT_DIR"] = str(out_dir)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(out_dir / path.name), parameters=params, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, execution_timeout=timeout_s)
    except pm.PapermillExecutionError as exc:
        raise NotebookFailed(f"{path.name} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
                             f"{exc.ename}: {exc.evalue}") from None
    return time.perf_counter() - start


def time_breakdown(ipynb: Path, wall_s: float, timing_file: Path | None = None) -> dict[str, float]:
    """Where a notebook run's ``wall_s`` seconds went, from the executed notebook and the package's timers.

    ``kernel_startup_s`` is the wall time outside the cells (starting the kernel, papermill's own
    work); the cells' time is split into the totals of ``tradeoff_lib.timing`` (training, evaluation,
    latency, bootstrap, export) that the notebook wrote to ``timing_file``, and ``other_s``: the
    rest (imports, plots, pure-Python work).
    """
    import nbformat

    nb = nbformat.read(str(ipynb), as_version=4)
    cells_s = sum(float(c.metadata.get("papermill", {}).get("duration") or 0.0) for c in nb.cells)
    tracked = json.loads(Path(timing_file).read_text()) if timing_file and Path(timing_file).exists() else {}
    out = {"total_s": wall_s, "kernel_startup_s": max(0.0, wall_s - cells_s)}
    out.update({f"{kind}_s": float(tracked.get(kind, 0.0)) for kind in TIMING_KINDS})
    out["other_s"] = max(0.0, cells_s - sum(float(v) for v in tracked.values()))
    return {k: round(v, 2) for k, v in out.items()}


def export_html(ipynb: Path) -> Path:
    """Write ``<name>.html`` beside an executed notebook."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(ipynb), as_version=4))
    return atomic_write_bytes(ipynb.with_suffix(".html"), body.encode())


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No results yet.</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline_html(out_dir: Path) -> str:
    path = out_dir / "headline.json"
    if not path.exists():
        return ""
    h = json.loads(path.read_text())
    req, base, chosen = h["requirement"], h["baseline"], h["chosen"]
    relative = f" (the baseline's {req['latency']} / {req['speedup_target']:g})" if req.get("speedup_target") else ""
    text = (f"<p>Requirement: {req['mode']} deadline of {float(req['budget_ms']):.3f} ms per image at batch 1"
            f"{relative}, validation accuracy at least {float(req['accuracy_floor']):.3f}. Chosen on "
            f"{html.escape(h.get('selected_on', 'validation'))} scores, reported on test. Baseline: "
            f"{html.escape(base['name'])}, test accuracy {float(base['accuracy']):.3f}, "
            f"p50 {float(base['latency_p50_ms']):.3f} ms.</p>")
    if chosen is None:
        return f"<h2>Headline</h2>{text}<p><b>No model meets the requirement.</b></p>"
    return (f"<h2>Headline</h2>{text}<p><b>Ship {html.escape(chosen['name'])}</b> "
            f"(from {html.escape(chosen['notebook'])}): validation F1 {float(chosen['val_f1']):.3f}, "
            f"test accuracy {float(chosen['accuracy']):.3f}, "
            f"{chosen['speedup_p50']:.1f}x faster, {chosen['size_ratio']:.0f}x smaller, "
            f"{chosen['accuracy_change_pts']:+.1f} test accuracy points vs. the baseline.</p>")


def _as_breakdown(value: float | dict[str, float]) -> dict[str, float]:
    """A ``run_times.json`` entry as a breakdown (older reports stored only the total)."""
    return dict(value) if isinstance(value, dict) else {"total_s": float(value)}


BREAKDOWN_COLUMNS = ("kernel_startup_s", *(f"{k}_s" for k in TIMING_KINDS), "other_s")


def write_index(out_dir: Path, run_times: dict[str, float | dict[str, float]]) -> Path:
    """``index.html``: headline, links to every executed notebook, run times with their breakdown, plots, the ledger,
    the environment. ``run_times`` maps a notebook to its total seconds or to a ``time_breakdown``."""
    from .tradeoff import Ledger, results_table

    env = environment_info()
    notebooks = sorted(out_dir.glob("[0-9][0-9]_*.ipynb"))
    times = {name: _as_breakdown(v) for name, v in run_times.items()}

    def cells(nb: Path) -> str:
        t = times.get(nb.name, {})
        return "".join(f"<td>{t[c]:.1f}</td>" if c in t else "<td></td>" for c in ("total_s", *BREAKDOWN_COLUMNS))

    items = "".join(
        f"<tr><td><a href='{nb.stem}.html'>{html.escape(nb.stem)}</a></td><td><a href='{nb.name}'>ipynb</a></td>"
        f"{cells(nb)}</tr>" for nb in notebooks)
    sums = [sum(times.get(nb.name, {}).get(c, 0.0) for nb in notebooks) for c in ("total_s", *BREAKDOWN_COLUMNS)]
    total = sums[0]
    heads = "".join(f"<th>{c[:-2].replace('_', ' ')} (s)</th>" for c in BREAKDOWN_COLUMNS)
    plots = sorted((out_dir / "plots").glob("*.png"), key=lambda p: (not p.name.startswith("10_"), p.name))
    figures = "".join(f"<figure><a href='plots/{p.name}'><img src='plots/{p.name}' alt='{p.stem}'></a>"
                      f"<figcaption>{html.escape(p.stem)}</figcaption></figure>" for p in plots)
    ledger = Ledger(out_dir).read()
    table = results_table(ledger).to_dict("records") if ledger else []
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>Real-time vs. accuracy: report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
figure{{display:inline-block;margin:.5em;vertical-align:top}}img{{max-width:520px}}
figcaption{{font-size:12px;color:#555}}</style></head><body>
<h1>Real-time vs. accuracy: report</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by <code>python -m tradeoff_lib.report</code>.
Every number was measured during this run; latencies are per call at batch 1.</p>
{_headline_html(out_dir)}
<h2>Notebooks</h2><p>Run time per notebook and where it went: kernel start-up, then the package's timers
(training, evaluation, latency measurement, bootstrap, export); "other" is the rest of the cells.</p>
<table><tr><th>notebook</th><th>source</th><th>run time (s)</th>{heads}</tr>{items}
<tr><th>total</th><td></td>{"".join(f"<th>{v:.1f}</th>" for v in sums)}</tr></table>
<p>Total: {total:.1f} s.</p>
<h2>Plots</h2>{figures or '<p>No plots.</p>'}
<h2>Ledger ({len(ledger)} results)</h2>{_table(table)}
<h2>Environment</h2>{_table([env])}
</body></html>"""
    atomic_write_bytes(out_dir / "run_times.json", json.dumps(times, indent=2).encode())
    return atomic_write_bytes(out_dir / "index.html", page.encode())


def keep_failed(staging: Path, out: Path) -> Path:
    """Move a failed run's ``staging`` folder to ``.<out>.failed`` (replacing an older one) for inspection."""
    failed = out.with_name(f".{out.name}.failed")
    shutil.rmtree(failed, ignore_errors=True)
    os.replace(staging, failed)
    return failed


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with two renames (the old report is removed last)."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def run_series(out: Path = DEFAULT_OUT, *, only: Sequence[str] | None = None, parameters: dict[str, Any] | None = None,
               html_export: bool = True, notebooks_dir: Path = NOTEBOOK_DIR, timeout_s: int = 900) -> dict[str, float]:
    """Run the series (or ``only`` some notebooks) into ``out``; returns run times per notebook.

    ``run_times.json`` in ``out`` keeps each notebook's ``time_breakdown`` (the index shows it).
    """
    parameters = dict(parameters or {})
    check_parameters(**parameters)
    notebooks = select_notebooks(list_notebooks(notebooks_dir), only)
    if not notebooks:
        raise ValueError(f"no notebooks found in {notebooks_dir}")
    declared = set().union(*(notebook_parameters(nb) for nb in notebooks))
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise ValueError(f"parameter(s) {', '.join(unknown)} are declared by none of the notebooks run; "
                         f"known: {', '.join(sorted(declared - {'REPORT_DIR'}))}")
    parameters.setdefault("PROGRESS", False)  # progress bars only clutter a stored report
    out = Path(out).resolve()
    staging = out.with_name(f".{out.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    run_times: dict[str, dict[str, float]] = {}
    if only and out.exists():  # a partial run keeps the rest of the previous report
        shutil.copytree(out, staging)
        previous = out / "run_times.json"
        run_times = {k: _as_breakdown(v) for k, v in json.loads(previous.read_text()).items()} \
            if previous.exists() else {}
    staging.mkdir(parents=True, exist_ok=True)
    timing_dir = staging / ".timing"
    env_before = os.environ.get(TIMING_ENV)
    try:
        for i, nb in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {nb.name} ...", flush=True)
            timing_file = timing_dir / f"{nb.stem}.json"
            timing_file.unlink(missing_ok=True)
            os.environ[TIMING_ENV] = str(timing_file)  # the kernel inherits it; the package's timers write there
            wall = run_notebook(nb, staging, parameters, timeout_s=timeout_s)
            run_times[nb.name] = time_breakdown(staging / nb.name, wall, timing_file)
            if html_export:
                export_html(staging / nb.name)
            print(f"[{i}/{len(notebooks)}] {nb.name} done in {wall:.1f} s", flush=True)
        write_index(staging, run_times)
    except BaseException:
        keep_failed(staging, out)
        raise
    finally:
        if env_before is None:
            os.environ.pop(TIMING_ENV, None)
        else:
            os.environ[TIMING_ENV] = env_before
    shutil.rmtree(timing_dir, ignore_errors=True)
    _swap_in(staging, out)
    return {name: t["total_s"] for name, t in run_times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradeoff_lib.report", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (default: reports/)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks whose name starts with NN")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a papermill parameter for every notebook that declares it (repeatable)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML export")
    parser.add_argument("--list", action="store_true", help="list the notebooks and their parameters, then exit")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOK_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--readme-assets", action="store_true",
                        help="write the README's results from the report (and bench.json), copy the capstone plot")
    args = parser.parse_args(argv)
    if args.readme_assets:
        try:
            from .readme import export_readme_assets

            print(export_readme_assets(args.out))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.list:
        for nb in list_notebooks(args.notebooks_dir):
            print(nb.name, notebook_parameters(nb))
        return 0
    params = {name: parse_parameter(value) for name, value in args.parameter}
    start = time.perf_counter()
    try:
        times = run_series(args.out, only=args.only, parameters=params, html_export=not args.no_html,
                           notebooks_dir=args.notebooks_dir)
    except NotebookFailed as exc:
        print(f"FAILED: {exc}\nThe partial run is in {args.out.resolve().with_name('.' + args.out.name + '.failed')}; "
              f"the previous report in {args.out} is unchanged.", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {args.out / 'index.html'} ({len(times)} notebooks, {time.perf_counter() - start:.1f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
