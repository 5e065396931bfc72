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


def test_plot_lines_grid_and_panels(tmp_path):
    import torch

    fig = tl.plot_lines({"global": ([0.5, 0.9], [0.97, 0.9]), "layer": ([0.5, 0.9], [0.96, 0.7])}, hline=0.98,
                        xlabel="sparsity", ylabel="accuracy", logx=True, xticks=[0.5, 0.9], path=tmp_path / "l.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xscale() == "log" and ax.get_xlabel() == "sparsity"
    assert list(ax.lines[0].get_ydata()) == [0.97, 0.9] and (tmp_path / "l.png").stat().st_size > 0
    with pytest.raises(ValueError, match="series 'a' has 2 x values and 1 y values"):
        tl.plot_lines({"a": ([1, 2], [1])})
    with pytest.raises(ValueError, match="series is empty"):
        tl.plot_lines({})
    bars = tl.plot_lines({"a": ([1, 2], [0.5, 0.7]), "b": ([1, 2], [0.4, 0.6])}, errors={"a": [0.1, 0.2]})
    caps = bars.axes[0].containers
    assert len(caps) == 1 and caps[0].has_yerr and caps[0].get_label() == "a", "error bars on 'a' only"
    with pytest.raises(ValueError, match=r"errors names series that are not plotted: \['c'\]"):
        tl.plot_lines({"a": ([1], [1])}, errors={"c": [0.1]})
    grid = tl.plot_image_grid(torch.zeros(3, 1, 4, 4), ["a", "b", "c"], path=tmp_path / "g.png")
    assert [a.get_title() for a in grid.axes] == ["a", "b", "c"] and (tmp_path / "g.png").exists()
    with pytest.raises(ValueError, match="one title per image"):
        tl.plot_image_grid(torch.zeros(3, 1, 4, 4), ["a"])
    panels = tl.plot_tradeoff_panels({"task a": RESULTS[:3], "task b": RESULTS[3:]}, budget_ms=2.0,
                                     path=tmp_path / "p.png")
    assert [a.get_title() for a in panels.axes[:2]] == ["task a", "task b"]
    with pytest.raises(ValueError, match="panels is empty"):
        tl.plot_tradeoff_panels({})
