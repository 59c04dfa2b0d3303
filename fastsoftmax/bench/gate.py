"""The regression gate: speed-ups against a baseline file, and writing that file."""
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from fastsoftmax.bench.cases import run, select_cases
from fastsoftmax.bench.timing import measure
from fastsoftmax.io import atomic
from fastsoftmax.io.paths import open_regular

#: A speed-up below this fraction of its baseline fails the gate.
DEFAULT_FRACTION = 0.6


@dataclass
class Failure:
    """A kernel whose speed-up fell below ``fraction`` of its baseline."""

    name: str
    speedup: float
    baseline: float
    fraction: float

    @property
    def message(self):
        return (f"{self.name}: speed-up {self.speedup:.2f}x is below {self.fraction:.0%} of its "
                f"baseline {self.baseline:.2f}x (needs >= {self.fraction * self.baseline:.2f}x)")

    def __str__(self):
        return self.message


def baseline_ratios(baseline):
    """``{name: ratio}`` from a baseline file's content (or such a dict itself)."""
    ratios = baseline.get("ratios", baseline) if isinstance(baseline, dict) else None
    if not isinstance(ratios, dict):
        raise ValueError("baseline must be an object with a 'ratios' object {kernel: speed-up}")
    out = {}
    for name, value in ratios.items():
        if isinstance(value, dict):
            value = value.get("speedup")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"baseline ratio of {name!r} must be a positive number; got {value!r}")
        out[name] = float(value)
    return out


def compare_to_baseline(results, baseline, fraction=DEFAULT_FRACTION):
    """Kernels whose speed-up is below ``fraction`` of their baseline, as :class:`Failure`.

    ``results``: ``{name: result dict or speed-up}``.  Kernels absent from either side,
    or skipped in this run, are not compared (see :func:`not_compared`).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction!r}")
    ratios = baseline_ratios(baseline)
    failures = []
    for name, result in results.items():
        speedup = result.get("speedup") if isinstance(result, dict) else result
        if speedup is None or name not in ratios:
            continue
        if speedup < fraction * ratios[name]:
            failures.append(Failure(name, float(speedup), ratios[name], fraction))
    return failures


def not_compared(results, baseline):
    """Names in the baseline that this run did not measure, and measured ones the
    baseline lacks: ``(missing, new)``."""
    ratios = baseline_ratios(baseline)
    measured = {name for name, r in results.items()
                if (r.get("speedup") if isinstance(r, dict) else r) is not None}
    return sorted(set(ratios) - measured), sorted(measured - set(ratios))


#: Measurements of a kernel below the gate before it fails (the best counts).
GATE_ATTEMPTS = 4
#: Seconds waited before the second measurement, doubled before each further one (10,
#: 20, 40 s).  On a shared machine other work can take a core for stretches of seconds
#: to a minute (a parallel kernel then runs at the speed of fewer threads); a later
#: measurement should not fall into the same stretch.
GATE_PAUSE_SECONDS = 10.0


def check(baseline, size=None, fraction=DEFAULT_FRACTION, only=None, cases=None, progress=None,
          attempts=GATE_ATTEMPTS, pause=GATE_PAUSE_SECONDS):
    """The regression gate: measure, compare, measure each failing kernel again.

    A kernel fails only when all of its ``attempts`` measurements are below ``fraction``
    of its baseline (the best of them counts; the second is taken ``pause`` seconds after
    the first, each further one after twice the previous wait, and only while it is still
    below), so a stretch of noise does not fail CI.

    Returns ``(results, failures)``; a re-measured kernel's result has
    ``earlier_speedups`` (the measurements it replaced or that did no better).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1; got {attempts!r}")
    ratios = baseline_ratios(baseline)
    size = size or (baseline.get("size") if isinstance(baseline, dict) else None) or "quick"
    if cases is None:
        cases = [case for case in select_cases(only) if case.name in ratios]
    results = run(size, cases=cases, progress=progress)
    failures = compare_to_baseline(results, baseline, fraction)
    by_name = {case.name: case for case in cases}
    say = progress or (lambda message: None)
    for attempt in range(2, attempts + 1):
        if not failures:
            break
        time.sleep(pause * 2 ** (attempt - 2))
        for failure in failures:
            say(f"{failure.name}: below the gate, measuring again ({attempt}/{attempts})")
            again = measure(by_name[failure.name], size, progress=progress)
            best = results[failure.name]
            if again.get("speedup", 0) > best.get("speedup", 0):
                again["earlier_speedups"] = best.pop("earlier_speedups", []) + [best["speedup"]]
                results[failure.name] = again
            else:
                best.setdefault("earlier_speedups", []).append(again.get("speedup"))
        failures = compare_to_baseline(results, baseline, fraction)
    return results, failures


def machine_description():
    """The machine a baseline was measured on: host, processor, cores, Numba threads,
    Python and NumPy versions, platform."""
    return {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


def make_baseline(results, size, note=""):
    """A baseline file's content from measured results (skipped cases are left out).

    ``results`` may be a list of several runs' results: each kernel's baseline is then
    the slowest of its speed-ups.  On a shared machine one kernel's ratio can swing by
    half between runs; a bar set from the slowest run still fails a kernel that became
    twice as slow, but not a fast kernel measured at a bad moment.
    """
    runs = results if isinstance(results, list) else [results]
    results = {}
    for name in runs[0]:
        measured = [run[name] for run in runs if run.get(name, {}).get("status") == "ok"]
        if not measured:
            results[name] = runs[0][name]
            continue
        slowest = min(measured, key=lambda r: r["speedup"])
        results[name] = dict(slowest, runs=[round(r["speedup"], 3) for r in measured])
    return {
        "note": note or ("Speed-ups (reference time / fast time, same run) measured by "
                         "'fastsoftmax bench --update-baseline'; the gate fails a kernel "
                         f"below {DEFAULT_FRACTION:.0%} of its ratio here (the slowest of the runs)."),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "size": size,
        "fraction": DEFAULT_FRACTION,
        **machine_description(),
        "runs": len(runs),
        "ratios": {name: round(r["speedup"], 3) for name, r in results.items()
                   if r.get("status") == "ok"},
        "ratios_of_each_run": {name: r["runs"] for name, r in results.items() if "runs" in r},
        "medians_us": {name: {"fast": round(r["fast_median_s"] * 1e6, 1),
                              "reference": round(r["reference_median_s"] * 1e6, 1)}
                       for name, r in results.items() if r.get("status") == "ok"},
    }


def write_json_atomic(path, payload):
    """Write JSON to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"folder {str(folder)!r} does not exist")
    with atomic.atomic_open(path, "w") as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def load_baseline(path):
    """The content of the baseline file ``path``, checked before it is used.

    Raises
    ------
    ValueError
        ``path`` is not a regular file, not JSON, or holds no valid speed-ups.
    OSError
        It cannot be read (FileNotFoundError: there is no such file).
    """
    path = Path(path)
    try:
        with open_regular(path, ValueError) as handle:
            content = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON baseline file ({exc})") from None
    baseline_ratios(content)
    return content


