"""Timing: a case's fast path and reference, warmed up, in interleaved rounds.

:func:`measure` warms both sides up (so Numba compilation never counts), then times
them in alternating order and returns the medians and their ratio, the *speed-up*.
"""
import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

SIZES = ("tiny", "quick", "full")
#: Shortest timing sample; cheap callables are repeated until a sample lasts this long.
MIN_SAMPLE_SECONDS = {"tiny": 0.005, "quick": 0.03, "full": 0.1}


class BenchSkip(Exception):
    """Raised by a case's setup when it cannot run here (an optional package is absent)."""


@dataclass
class Pair:
    """What a case's setup returns: the two callables and how to read their times.

    ``fast_units`` / ``reference_units`` are the work items one call does (updates,
    images); the speed-up compares times per unit, so the two may differ.
    ``warmup`` (optional) is a cheap call that compiles the fast path; when given, the
    reference (expensive, nothing to compile) is not warmed up and runs once a sample.
    ``one_call`` (with ``warmup``): the fast side too runs once a sample, without the
    untimed call that sizes its samples (for cases that take minutes a call).
    ``summarize(fast_output, reference_output)`` returns extra figures (accuracies,
    stage timings) from the last outputs.
    """

    fast: Callable
    reference: Callable
    fast_label: str = "fastsoftmax"
    reference_label: str = "numpy"
    unit: str = "call"
    fast_units: int = 1
    reference_units: int = 1
    warmup: Optional[Callable] = None
    one_call: bool = False
    summarize: Optional[Callable] = None
    info: dict = field(default_factory=dict)


@dataclass
class Case:
    """A benchmark case: ``setup(size)`` builds the inputs and returns a :class:`Pair`."""

    name: str
    group: str
    description: str
    setup: Callable
    rounds: dict
    target: Optional[float] = None  # speed-up aimed at, at full sizes (reported, not gated)
    shares_fast_with: Optional[str] = None  # another case with the same fast path

    def __repr__(self):
        return f"Case({self.name!r})"


def _time(fn, number):
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        return time.perf_counter() - start, out
    finally:
        if gc_was_enabled:
            gc.enable()


def _autorange(fn, min_time):
    """Calls per sample so that a sample lasts at least ``min_time`` (as timeit's autorange)."""
    number = 1
    while True:
        elapsed, _ = _time(fn, number)
        if elapsed >= min_time or number >= 100_000:
            return number
        number = max(number + 1, math.ceil(number * 1.2 * min_time / max(elapsed, 1e-9)))


#: Pause before each timed sample (see ``measure``).
COOLDOWN_SECONDS = 0.2


def measure(case, size="quick", rounds=None, progress=None):
    """Time one case: warm-up, then ``rounds`` interleaved samples of fast and reference.

    Returns a dict: ``name``, ``status`` (``"ok"`` or ``"skipped"`` with ``reason``),
    ``fast_median_s`` / ``reference_median_s`` (per call), ``fast_per_unit_us`` /
    ``reference_per_unit_us``, ``unit``, ``speedup`` (reference time per unit over fast
    time per unit, from the medians), the raw samples, and the case's extra figures.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}; got {size!r}")
    result = {"name": case.name, "group": case.group, "description": case.description,
              "size": size, "target": case.target}
    say = progress or (lambda message: None)
    try:
        pair = case.setup(size)
    except BenchSkip as exc:
        result.update(status="skipped", reason=str(exc))
        say(f"{case.name}: skipped ({exc})")
        return result
    rounds = rounds or case.rounds[size]
    min_time = MIN_SAMPLE_SECONDS[size]
    say(f"{case.name}: warming up")
    if pair.warmup is not None:
        pair.warmup()
        fast_number = 1 if pair.one_call else _autorange(pair.fast, min_time)
        reference_number = 1
    else:
        pair.fast()  # compiles
        start = time.perf_counter()
        pair.reference()
        reference_first = time.perf_counter() - start
        fast_number = _autorange(pair.fast, min_time)
        reference_number = 1 if reference_first >= min_time else _autorange(pair.reference, min_time)
    fast_samples, reference_samples = [], []
    fast_out = reference_out = None
    for r in range(rounds):
        say(f"{case.name}: round {r + 1}/{rounds}")
        order = ("fast", "reference") if r % 2 == 0 else ("reference", "fast")
        for side in order:
            # Let the other side's idle threads (OpenBLAS workers spin for a while after
            # each call) go to sleep, so neither side is timed against the other's leftovers.
            time.sleep(COOLDOWN_SECONDS)
            if side == "fast":
                elapsed, fast_out = _time(pair.fast, fast_number)
                fast_samples.append(elapsed / fast_number)
            else:
                elapsed, reference_out = _time(pair.reference, reference_number)
                reference_samples.append(elapsed / reference_number)
    fast_median = statistics.median(fast_samples)
    reference_median = statistics.median(reference_samples)
    fast_unit = fast_median / pair.fast_units
    reference_unit = reference_median / pair.reference_units
    result.update(
        status="ok", fast_label=pair.fast_label, reference_label=pair.reference_label,
        unit=pair.unit, fast_units=pair.fast_units, reference_units=pair.reference_units,
        fast_median_s=fast_median, reference_median_s=reference_median,
        fast_per_unit_us=fast_unit * 1e6, reference_per_unit_us=reference_unit * 1e6,
        speedup=reference_unit / fast_unit, rounds=rounds, fast_number=fast_number,
        reference_number=reference_number, fast_samples_s=fast_samples,
        reference_samples_s=reference_samples, info=dict(pair.info),
    )
    if pair.summarize is not None:
        result["extra"] = pair.summarize(fast_out, reference_out)
    return result



def run_cases(cases, size="quick", progress=None):
    """Measure each case; returns ``{name: result}`` in the order given."""
    return {case.name: measure(case, size, progress=progress) for case in cases}
