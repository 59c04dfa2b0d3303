"""Experiments: hyperparameter sweeps, their plots and reports, and the study's analyses.

- :mod:`.sweep`: :func:`parse_grid`, :func:`prepare_features`, :func:`run_sweep`,
  :func:`write_results` (atomic CSV + JSON + loss curves).
- :mod:`.plots`: loss curves, accuracy against a value, heatmaps (PNG).
- :mod:`.report`: Markdown and self-contained HTML reports of a sweep folder.
- :mod:`.study`: the study's five analyses in one run, with a report written from
  the measured numbers.
"""
from fastsoftmax.experiments.report import write_report
from fastsoftmax.experiments.sweep import (SWEEPABLE, check_output_folder, expand_grid, load_results, parse_grid,
                    parse_value, prepare_features, run_sweep, summarize, write_results)

__all__ = [
    "SWEEPABLE",
    "check_output_folder",
    "expand_grid",
    "load_results",
    "parse_grid",
    "parse_value",
    "prepare_features",
    "run_sweep",
    "summarize",
    "write_report",
    "write_results",
]
