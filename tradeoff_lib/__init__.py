"""tradeoff_lib: measure and balance real-time speed against accuracy in PyTorch.

The helper package of the cookbook in ``notebooks/``. Importing it has no side
effects; everything a notebook needs is re-exported here (``import tradeoff_lib as tl``),
and each technique lives in ``tradeoff_lib.techniques``.
"""
from .applied import applied
from .cost import clone_model, count_flops, count_macs, count_nonzero_params, count_params, size_bytes
from .data import (DATASETS, ArrayDataset, DatasetInfo, DatasetUnavailableError, Splits, eval_loader, load_splits,
                   make_loaders, stratified_subset, train_loader)
from .exercises import check_exercise, list_exercises
from .latency import (DeadlineVerdict, LatencyStats, compare_latency, deadline_latency_ms, deadline_verdict,
                      frame_budget_ms, measure_latency, num_threads, percentile_ci, throughput)
from .metrics import (ConfidenceInterval, accuracy, bootstrap_ci, classification_summary, confusion_matrix, f1_score,
                      precision, recall)
from .models import BASELINE_WIDTH, CNN_WIDTHS, MLP, SmallCNN, make_cnn, make_mlp
from .modes import eval_mode
from .notebook import check_parameters, environment_info, report_dir, show_source
from .plotting import (plot_budget_sweep, plot_history, plot_image_grid, plot_latency_histogram, plot_lines,
                       plot_steps, plot_tradeoff, plot_tradeoff_panels, save_figure)
from .multiseed import StackedCNN, train_seeds
from .recipe import Recipe, train_recipe
from .threads import get_training_threads, set_training_threads, training_threads
from .tradeoff import (Ledger, Result, budget_sweep, fastest_within, measure, pareto_front, ratio, results_table,
                       save_headline, select, step_table)
from .caching import course_baseline, load_checkpoint, save_checkpoint, train_classifier, train_model
from .training import History, classification_step, evaluate, fit, predict, seed_everything

__version__ = "0.1.0"

__all__ = [
    "accuracy", "applied", "ArrayDataset", "BASELINE_WIDTH", "bootstrap_ci", "budget_sweep", "check_exercise",
    "check_parameters", "classification_step", "classification_summary", "clone_model", "CNN_WIDTHS",
    "compare_latency", "ConfidenceInterval", "confusion_matrix", "count_flops", "count_macs",
    "count_nonzero_params", "count_params", "course_baseline", "DatasetInfo", "DATASETS", "DatasetUnavailableError",
    "deadline_latency_ms", "deadline_verdict", "DeadlineVerdict", "environment_info", "eval_loader", "eval_mode",
    "evaluate", "f1_score", "fastest_within", "fit", "frame_budget_ms", "History", "LatencyStats", "Ledger",
    "list_exercises", "load_checkpoint", "load_splits", "make_cnn", "make_loaders", "make_mlp", "measure",
    "measure_latency", "MLP", "num_threads", "pareto_front", "percentile_ci", "plot_budget_sweep", "plot_history",
    "plot_image_grid", "plot_latency_histogram", "plot_lines", "plot_steps", "plot_tradeoff",
    "plot_tradeoff_panels", "precision", "predict", "ratio", "recall", "Recipe", "report_dir", "Result",
    "results_table", "save_checkpoint", "save_figure", "save_headline", "seed_everything", "select", "show_source",
    "size_bytes", "SmallCNN", "Splits", "step_table", "stratified_subset", "throughput", "train_classifier",
    "train_loader", "train_model", "train_recipe", "StackedCNN", "train_seeds", "get_training_threads",
    "set_training_threads", "training_threads",
]
