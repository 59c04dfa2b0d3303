"""Benchmark cases shared by ``benchmarks/`` (pytest-benchmark) and ``fastsoftmax bench``.

Every case pairs a fast path with its reference on the same inputs.  ``measure``
warms both up (so Numba compilation never counts), then times them in interleaved
rounds and returns the medians and their ratio, the *speed-up*.  A regression gate
compares speed-ups, never absolute times: fast and reference are measured in the same
run on the same machine, so the machine's speed cancels out.

Sizes: ``"quick"`` (the CI gate and ``fastsoftmax bench``), ``"full"`` (``--full``,
the sizes the speed-up targets are judged at) and ``"tiny"`` (tests of this package).

- :mod:`.cases`: the one list of cases (:data:`CASES`), their setups, :func:`run`;
- :mod:`.wide`: the training-loop cases at the learned features' width;
- :mod:`.learned`: the learned-feature pipeline case against scikit-learn's recipe;
- :mod:`.inputs`: synthetic problems and images, CIFAR-10 (``$FASTSOFTMAX_BENCH_CIFAR``),
  optional references (PyTorch, OpenCV: imported only when their case runs);
- :mod:`.timing`: :class:`Case`, :class:`Pair`, :func:`measure`;
- :mod:`.gate`: baseline files and the speed gate (:func:`check`);
- :mod:`.table`: the text table;
- :mod:`.first_run`: the first and second ``fastsoftmax train`` in fresh processes.

Example
-------
>>> from fastsoftmax import bench
>>> result = bench.measure(bench.get_case("softmax_loss_grad"), "tiny", rounds=3)
>>> sorted(result["fast_samples_s"])[1] == result["fast_median_s"]  # median of 3 rounds
True
"""
from fastsoftmax.bench.cases import CASES, case_names, get_case, run, select_cases
from fastsoftmax.bench.first_run import first_run_timings, format_first_run
from fastsoftmax.bench.gate import (DEFAULT_FRACTION, Failure, baseline_ratios, check,
                                    compare_to_baseline, load_baseline, machine_description,
                                    make_baseline, not_compared, write_json_atomic)
from fastsoftmax.bench.inputs import CIFAR_ENV, find_cifar_dev, softmax_problem, synthetic_images
from fastsoftmax.bench.table import format_table, format_time
from fastsoftmax.bench.timing import (COOLDOWN_SECONDS, MIN_SAMPLE_SECONDS, SIZES, BenchSkip, Case,
                                      Pair, measure, run_cases)

__all__ = [
    "CASES", "CIFAR_ENV", "COOLDOWN_SECONDS", "DEFAULT_FRACTION", "MIN_SAMPLE_SECONDS", "SIZES",
    "BenchSkip", "Case", "Failure", "Pair", "baseline_ratios", "case_names", "check",
    "compare_to_baseline", "find_cifar_dev", "first_run_timings", "format_first_run",
    "format_table", "format_time", "get_case",
    "load_baseline", "machine_description", "make_baseline", "measure", "not_compared", "run",
    "run_cases", "select_cases", "softmax_problem", "synthetic_images", "write_json_atomic",
]
