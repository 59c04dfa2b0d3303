"""pytest-benchmark files over the shared cases of :mod:`fastsoftmax.bench`.

Collects ``bench_*.py`` here (the default ``pytest`` run only looks in ``tests/``):
``bench_cases.py`` parametrizes over every case of ``bench.CASES``.

Run::

    pytest benchmarks/ --benchmark-group-by=group                  # quick sizes
    FASTSOFTMAX_BENCH_SIZE=full pytest benchmarks/ --benchmark-group-by=group

Each case is benchmarked twice, fast path and reference, in the same ``group``
(``benchmark.pedantic`` with a warm-up round, so Numba compilation never counts).
A case that shares its fast path with another (OpenCV, PyTorch) benchmarks only its
reference.  With ``FASTSOFTMAX_BENCH_SIZE=full``, ``test_*_target`` checks the speed-up
an issue claims, from this run's medians.  The CI gate against
``benchmarks/baseline.json`` is ``fastsoftmax bench --check`` (same cases).
"""
import os
from pathlib import Path

import pytest

from fastsoftmax import bench

SIZE = os.environ.get("FASTSOFTMAX_BENCH_SIZE", "quick")

#: The development CIFAR-10 copy beside the checkout: the full sizes run on it when
#: present and $FASTSOFTMAX_BENCH_CIFAR names no other (the package assumes no location).
CIFAR_DEV = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-dev"
             / "cifar-10-batches-py")
if not os.environ.get("FASTSOFTMAX_BENCH_CIFAR") and (CIFAR_DEV / "test_batch").exists():
    os.environ["FASTSOFTMAX_BENCH_CIFAR"] = str(CIFAR_DEV)
if SIZE not in bench.SIZES:
    raise pytest.UsageError(f"FASTSOFTMAX_BENCH_SIZE must be one of {bench.SIZES}; got {SIZE!r}")

_pairs = {}
_medians = {}  # (case, side) -> seconds per unit, from this run


def pytest_collect_file(file_path, parent):
    # a file named on the command line is collected by pytest itself
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)


def get_pair(name):
    """The case's inputs and callables, built once per session (skips when unavailable)."""
    if name not in _pairs:
        try:
            _pairs[name] = bench.get_case(name).setup(SIZE)
        except bench.BenchSkip as exc:
            _pairs[name] = exc
    pair = _pairs[name]
    if isinstance(pair, bench.BenchSkip):
        pytest.skip(str(pair))
    return pair


def sides(name):
    """``["fast", "reference"]``, or only the reference when another case times the fast path."""
    case = bench.get_case(name)
    return ["reference"] if case.shares_fast_with else ["fast", "reference"]


def run_side(benchmark, name, side):
    """Benchmark one side of a case in the case's group; records its median per unit."""
    case = bench.get_case(name)
    pair = get_pair(name)
    fn = getattr(pair, side)
    if side == "fast" and pair.warmup is not None:
        pair.warmup()
    benchmark.group = case.group
    units = pair.fast_units if side == "fast" else pair.reference_units
    label = pair.fast_label if side == "fast" else pair.reference_label
    benchmark.extra_info.update(case=name, side=side, label=label, unit=pair.unit, units=units,
                                size=SIZE, **{k: str(v) for k, v in pair.info.items()})
    warmup = 0 if (side == "reference" and pair.warmup is not None) else 1
    out = benchmark.pedantic(fn, warmup_rounds=warmup, rounds=case.rounds[SIZE], iterations=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _medians[(name, side)] = stats.stats.median / units
    return out


def speedup(name):
    """Reference over fast median per unit, from this run (skips when either is missing)."""
    case = bench.get_case(name)
    fast_name = case.shares_fast_with or name
    fast, ref = _medians.get((fast_name, "fast")), _medians.get((name, "reference"))
    if fast is None or ref is None:
        pytest.skip("needs both benchmarks of this case timed in this run "
                    "(not --benchmark-disable)")
    return ref / fast


def check_target(name):
    case = bench.get_case(name)
    if SIZE != "full":
        pytest.skip("speed-up targets are for FASTSOFTMAX_BENCH_SIZE=full")
    ratio = speedup(name)
    print(f"\n{name}: speed-up {ratio:.2f}x (target {case.target:g}x)")
    assert ratio >= case.target, f"{name}: speed-up {ratio:.2f}x is below the target {case.target:g}x"
