import matplotlib
import pytest

import tradeoff_lib as tl
from tests.conftest import RESULTS

matplotlib.use("Agg")


def test_tradeoff_plot_draws_front_and_budget(tmp_path):
    fig = tl.plot_tradeoff(RESULTS, budget_ms=2.5, path=tmp_path / "t.png")
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "Pareto front" in labels and "budget 2.5 ms" in labels
    front_line = [line for line in ax.lines if line.get_label() == "Pareto front"][0]
    assert list(front_line.get_xdata()) == [1.0, 2.0, 5.0]
    assert (tmp_path / "t.png").stat().st_size > 5000


def test_histogram_and_history(tmp_path):
    stats = {"a": tl.LatencyStats((1.0, 1.1, 1.2, 5.0)), "b": tl.LatencyStats((2.0, 2.1))}
    fig = tl.plot_latency_histogram(stats, budget_ms=1.5, path=tmp_path / "h.png")
    assert "deadline 1.5 ms" in fig.axes[0].get_legend_handles_labels()[1]
    h = tl.History([{"train_loss": 1.0, "val_accuracy": 0.5}, {"train_loss": 0.5, "val_accuracy": 0.7}])
    fig = tl.plot_history({"run": h}, path=tmp_path / "c.png")
    assert len(fig.axes) == 2 and (tmp_path / "c.png").exists()


def test_bad_input():
    with pytest.raises(ValueError, match="results is empty"):
        tl.plot_tradeoff([])
    with pytest.raises(ValueError, match="budget_ms must be in"):
        tl.plot_tradeoff(RESULTS, budget_ms=-1)
    with pytest.raises(TypeError, match=r"stats\['x'\] must be LatencyStats"):
        tl.plot_latency_histogram({"x": [1, 2]})
    with pytest.raises(ValueError, match="histories is empty"):
        tl.plot_history({})


def test_save_figure_is_atomic(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = tl.save_figure(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not list((tmp_path / "sub").glob(".*"))


def test_budget_sweep_and_steps_plots(tmp_path):
    sweep = tl.budget_sweep(RESULTS, [0.5, 1.0, 2.0, 5.0], latency="latency_p50_ms")
    fig = tl.plot_budget_sweep(sweep, budget_ms=2.0, path=tmp_path / "s.png")
    assert fig.axes[0].get_xscale() == "log" and (tmp_path / "s.png").exists()
    assert "nothing fits" in fig.axes[0].get_legend_handles_labels()[1]
    fig = tl.plot_steps(RESULTS[:3], path=tmp_path / "w.png")
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="sweep is empty"):
        tl.plot_budget_sweep([])
    with pytest.raises(ValueError, match="steps is empty"):
        tl.plot_steps([])
