"""The report runner on a tiny two-notebook series (real papermill runs, about 15 s)."""
import json

import nbformat
import pytest

from tradeoff_lib import report


def _notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("SEED = 0\nREPORT_DIR = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def series(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "00_first.ipynb",
              "import pathlib, time\npathlib.Path(REPORT_DIR, 'plots').mkdir(exist_ok=True)\n"
              "pathlib.Path(REPORT_DIR, 'first.txt').write_text(str(SEED))\n"
              "from tradeoff_lib.timing import timed\nwith timed('training'):\n    time.sleep(0.3)")
    _notebook(folder / "01_second.ipynb",
              "import pathlib\nif SEED == 13:\n    raise ValueError('unlucky seed')\n"
              "pathlib.Path(REPORT_DIR, 'second.txt').write_text(str(SEED))")
    return folder


def test_series_runs_passes_parameters_and_fails_safely(series, tmp_path, capsys):
    out = tmp_path / "reports"
    times = report.run_series(out, parameters={"SEED": 7}, notebooks_dir=series)
    assert set(times) == {"00_first.ipynb", "01_second.ipynb"}
    assert (out / "first.txt").read_text() == "7" and (out / "second.txt").read_text() == "7"
    for name in ("00_first", "01_second"):
        assert (out / f"{name}.ipynb").exists() and (out / f"{name}.html").exists()
    index = (out / "index.html").read_text()
    assert "00_first.html" in index and "torch" in index
    breakdown = json.loads((out / "run_times.json").read_text())
    assert breakdown.keys() == times.keys()
    first = breakdown["00_first.ipynb"]
    assert first["total_s"] == pytest.approx(times["00_first.ipynb"], abs=0.01)
    assert 0.3 <= first["training_s"] < first["total_s"] and first["kernel_startup_s"] > 0
    assert breakdown["01_second.ipynb"]["training_s"] == 0.0
    assert "kernel startup (s)" in index and "training (s)" in index

    # a failing run names notebook and cell, exits 1, and leaves the previous report as it was
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code = report.main(["--out", str(out), "--notebooks-dir", str(series), "-p", "SEED", "13", "--no-html"])
    err = capsys.readouterr().err
    assert code == 1 and "01_second.ipynb failed in cell" in err and "unlucky seed" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    # a partial run replaces its notebook's output and keeps the others'
    report.run_series(out, only=["01"], parameters={"SEED": 3}, notebooks_dir=series, html_export=False)
    assert (out / "second.txt").read_text() == "3" and (out / "first.txt").read_text() == "7"


def test_bad_parameters_stop_before_running(series, tmp_path, capsys):
    out = tmp_path / "reports"
    with pytest.raises(TypeError, match="unknown notebook parameter.*EPOCS"):
        report.run_series(out, parameters={"EPOCS": 3}, notebooks_dir=series)
    with pytest.raises(ValueError, match="declared by none of the notebooks"):
        report.run_series(out, parameters={"EPOCHS": 3}, notebooks_dir=series)
    assert report.main(["--out", str(out), "--notebooks-dir", str(series), "-p", "LATENCY_BUDGET_MS", "-1"]) == 2
    assert "LATENCY_BUDGET_MS must be in" in capsys.readouterr().err
    with pytest.raises(ValueError, match="matches no notebook"):
        report.select_notebooks(report.list_notebooks(series), ["07"])
    assert not out.exists()


def test_helpers(series):
    assert [p.name for p in report.list_notebooks(series)] == ["00_first.ipynb", "01_second.ipynb"]
    assert report.notebook_parameters(series / "00_first.ipynb") == {"SEED": "0", "REPORT_DIR": "None"}
    assert report.parse_parameter("1.5") == 1.5 and report.parse_parameter("mnist") == "mnist"
    assert report.parse_parameter("[4, 8]") == [4, 8]


def test_headline_in_index_and_readme_assets(tmp_path):
    import tradeoff_lib as tl
    from tests.conftest import R

    out = tmp_path / "reports"
    (out / "plots").mkdir(parents=True)
    base, small = R("cnn64", 0.968, 1.2, size=6_700_000), R("cnn8", 0.975, 0.2, size=112_000)
    tl.save_headline(out, baseline=base, chosen=small, fastest=small,
                     requirement={"budget_ms": 0.5, "mode": "soft", "latency": "latency_p99_ms",
                                  "accuracy_floor": 0.95, "tolerance": 0.01, "threads": 1})
    import matplotlib.pyplot as plt

    tl.save_figure(plt.figure(), out / "plots" / "10_all_candidates.png")
    report.write_index(out, {})
    index = (out / "index.html").read_text()
    assert "Ship cnn8" in index and "6.0x faster" in index and "60x smaller" in index
    assert "Chosen on validation scores, reported on test" in index and "validation F1 0.975" in index
    tl.save_headline(out, baseline=base, chosen=None, requirement={"budget_ms": 0.3, "mode": "hard",
                     "latency": "latency_max_ms", "accuracy_floor": 0.95, "speedup_target": 4.0})
    text = report._headline_html(out)
    assert "No model meets the requirement" in text and "(the baseline's latency_max_ms / 4)" in text


def test_readme_assets_rewrite_the_generated_blocks(tmp_path):
    import matplotlib.pyplot as plt

    import tradeoff_lib as tl
    from tests.conftest import R
    from tradeoff_lib import readme

    out, figures = tmp_path / "reports", tmp_path / "figures"
    with pytest.raises(ValueError, match="no capstone results yet"):
        readme.export_readme_assets(out, figures, readmes={})
    base, small = R("cnn64", 0.968, 1.2, size=6_700_000), R("cnn8", 0.975, 0.2, size=112_000)
    tl.save_headline(out, baseline=base, chosen=small, fastest=small,
                     requirement={"budget_ms": 0.5, "mode": "soft", "latency": "latency_p99_ms",
                                  "accuracy_floor": 0.95, "tolerance": 0.01, "threads": 1})
    tl.save_figure(plt.figure(), out / "plots" / "10_all_candidates.png")
    (out / "run_times.json").write_text(json.dumps({"00_a.ipynb": 30.0, "01_b.ipynb": {"total_s": 90.0,
                                                                                       "training_s": 60.0}}))
    (out / "bench.json").write_text(json.dumps({"rows": [
        {"technique": "int8 static (CNN)", "speedup_b1": 2.0, "size_ratio": 3.9, "accuracy_change_pts": -0.1,
         "targets": [{"metric": "speedup_b1", "target": "> 1.0", "met": True}]},
        {"technique": "int8 auto / onnxruntime int8", "speedup_b1": 1.01, "size_ratio": None,
         "accuracy_change_pts": None, "targets": []}]}))
    main_readme, guide = tmp_path / "README.md", tmp_path / "guide.md"
    main_readme.write_text(f"# T\n{readme.BEGIN.format(name='results')}\nold, typed by hand\n"
                           f"{readme.END.format(name='results')}\n## Next\n")
    guide.write_text(f"x {readme.BEGIN.format(name='series time')}\n7.5 min\n{readme.END.format(name='series time')}")
    content = readme.export_readme_assets(out, figures, readmes={main_readme: "results", guide: "series time"})
    assert (figures / "headline_tradeoff.png").exists()
    text = main_readme.read_text()
    assert "old, typed by hand" not in text and content in text and text.endswith("## Next\n")
    lines = readme.headline_table(json.loads((out / "headline.json").read_text())).splitlines()
    assert lines[2].startswith("| fair baseline: cnn64") and "6.0x faster, 60x smaller, +0.7 pt" in lines[3]
    assert "validation accuracy ≥ 0.950. Chosen on validation scores, test scores reported once." in text
    assert "| int8 static (CNN) | 2.00x | 3.90x | -0.1 pt | speedup_b1 > 1.0: met |" in text
    assert "| int8 auto / onnxruntime int8 | 1.01x | — | — | — |" in text
    assert "The whole series: 2.0 minutes of notebook execution (2 notebooks, 30–90 s each)" in guide.read_text()
    with pytest.raises(ValueError, match="expected one"):
        readme.replace_block("no markers", "results", "x")


def test_the_readmes_have_their_generated_blocks():
    from tradeoff_lib import readme

    for path, name in readme.READMES.items():
        text = path.read_text()
        assert readme.replace_block(text, name, "x").count("x") >= 1


def test_keep_failed_moves_the_staging_folder_aside(tmp_path):
    staging, out = tmp_path / ".reports.staging-1", tmp_path / "reports"
    staging.mkdir()
    (staging / "00_a.ipynb").write_text("{}")
    (tmp_path / ".reports.failed").mkdir()                      # an older failed run is replaced
    failed = report.keep_failed(staging, out)
    assert failed == tmp_path / ".reports.failed" and (failed / "00_a.ipynb").exists() and not staging.exists()
