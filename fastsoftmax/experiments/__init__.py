"""Experiments: hyperparameter sweeps, their plots and reports, and the study's analyses.

The modules form one chain; each imports only those before it (and the lower layers):

- :mod:`.results`: a sweep folder's files: columns, writing and reading (untrusted)
  :func:`write_results`, :func:`load_results`, the output folder's checks
  (:func:`check_output_folder`) and publishing it as a whole.
- :mod:`.stats`: :func:`summarize` (mean and spread per configuration), the noise rule.
- :mod:`.plots`: loss curves, accuracy against a value, heatmaps (PNG).
- :mod:`.report`: Markdown and self-contained HTML reports of a sweep folder
  (:func:`write_report`).
- :mod:`.runner`: the fit of one run (:func:`~.runner.run_one`), locally or on a worker.
- :mod:`.distributed`: the fits on a Dask cluster.
- :mod:`.sweep`: :func:`parse_grid`, :func:`prepare_features`, :func:`run_sweep`,
  :func:`publish_sweep`.
- :mod:`.study`: the study's five analyses in one run (:func:`run_study`), with a report
  written from the measured numbers.
"""
from fastsoftmax.experiments.report import write_report
from fastsoftmax.experiments.results import (ResultsFileError, check_output_folder, load_results,
                                             write_results)
from fastsoftmax.experiments.stats import summarize
from fastsoftmax.experiments.study import run_study, study_plan, write_study_report
from fastsoftmax.experiments.sweep import (SWEEPABLE, expand_grid, parse_grid, parse_value,
                                           prepare_features, publish_sweep, run_sweep)

__all__ = [
    "SWEEPABLE",
    "ResultsFileError",
    "check_output_folder",
    "expand_grid",
    "load_results",
    "parse_grid",
    "parse_value",
    "prepare_features",
    "publish_sweep",
    "run_study",
    "run_sweep",
    "study_plan",
    "summarize",
    "write_report",
    "write_results",
    "write_study_report",
]
