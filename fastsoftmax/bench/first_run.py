"""The first ``fastsoftmax train`` after ``pip install .`` against the second, in fresh
processes (``.ci/run`` prints it).

Kept apart from the kernel cases: it times whole commands, not a kernel against its
reference.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _train_once(args, env, folder):
    """Run ``fastsoftmax train ARGS --json`` in a fresh process started in ``folder`` (a
    source checkout in the working folder would shadow the installed package); wall
    seconds, whether it compiled a kernel (its stderr said so), and its test accuracy."""
    command = [sys.executable, "-c", "from fastsoftmax.cli import main; main()",
               "train", *args, "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=folder)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"fastsoftmax train {' '.join(args)} failed: {done.stderr.strip()}")
    return {"seconds": seconds, "compiled": "compiling" in done.stderr,
            "test_accuracy": json.loads(done.stdout)["test_accuracy"]}


def first_run_timings(rounds=3, cifar=None):
    """Wall time of ``fastsoftmax train`` in fresh processes, first and second run.

    ``cold kernel cache``: no compiled kernel anywhere (``NUMBA_CACHE_DIR`` points to an
    empty folder), the cost of a machine the shipped cache does not fit.  ``first run``:
    the installed package's own kernel cache (compiled by the wheel build) and an empty
    feature cache, as right after ``pip install .``.  ``second run``: the same again,
    every cache warm.  The first/second pairs are repeated ``rounds`` times (medians);
    the cold case runs once.  With ``cifar`` (a CIFAR-10 folder) the first and second
    run on it are measured too.

    Returns
    -------
    dict
        case -> {"seconds", "compiled", "test_accuracy"}; ``seconds`` is a median.
    """
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FASTSOFTMAX_DATA")}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        cold = dict(base, NUMBA_CACHE_DIR=os.path.join(folder, "numba"),
                    FASTSOFTMAX_DATA=os.path.join(folder, "cold"))
        results["digits: cold kernel cache"] = _train_once([], cold, folder)
        cases = [("digits", [])]
        if cifar:
            cases.append(("cifar", ["--data", str(Path(cifar).resolve())]))
        for label, args in cases:
            runs = {"first run": [], "second run": []}
            for r in range(rounds if label == "digits" else 1):
                env = dict(base, FASTSOFTMAX_DATA=os.path.join(folder, f"{label}{r}"))
                runs["first run"].append(_train_once(args, env, folder))
                runs["second run"].append(_train_once(args, env, folder))
            for kind, measured in runs.items():
                results[f"{label}: {kind}"] = {
                    "seconds": statistics.median(m["seconds"] for m in measured),
                    "compiled": any(m["compiled"] for m in measured),
                    "test_accuracy": measured[0]["test_accuracy"],
                }
    return results


def format_first_run(results):
    """The table of :func:`first_run_timings`."""
    lines = ["fastsoftmax train in a fresh process (wall seconds, median)",
             f"{'case':32} {'seconds':>8}  compiled  test accuracy"]
    for case, r in results.items():
        lines.append(f"{case:32} {r['seconds']:8.2f}  {'yes' if r['compiled'] else 'no':8}"
                     f"  {r['test_accuracy']:.4f}")
    return "\n".join(lines)
