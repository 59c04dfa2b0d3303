"""``fastsoftmax bench``: fast kernels against their references, and the CI speed gate."""
import sys
import time

import click

from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.options import FiniteFloatRange, json_option, overwrite_option
from fastsoftmax.cli.output import echo, echo_json, echo_lines
from fastsoftmax.cli.paths import output_file
from fastsoftmax.cli.verbosity import is_quiet


@click.command("bench")
@click.option("--full", is_flag=True,
              help="Full-size benchmarks, about 20 minutes: 10,000 32x32 images for HOG, "
                   "200 updates of batch 500 for SGD, the whole pipeline and the "
                   "learned-feature pipeline (5,000 images, K 1,600), on the CIFAR-10 "
                   "folder that $FASTSOFTMAX_BENCH_CIFAR names (synthetic images without "
                   "it); the target column is judged at these sizes. Default: smaller "
                   "sizes, under a minute.")
@click.option("--size", type=click.Choice(["tiny", "quick", "full"]), default=None, hidden=True,
              help="Problem sizes (tiny is for tests); --full is --size full.")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Run only this benchmark (repeatable). Names: see --list.")
@click.option("--list", "list_cases", is_flag=True, help="List the benchmarks and exit.")
@click.option("--check", "check_path", type=click.Path(dir_okay=False, path_type=str),
              help="Compare each speed-up with this baseline file; exit 1 naming every kernel "
                   "below --fraction of its baseline (a failing kernel is measured up to "
                   "three times, 10 s apart; the best counts).")
@click.option("--fraction", type=FiniteFloatRange(0, 1, min_open=True), default=0.6,
              show_default=True, help="With --check: the least share of the baseline speed-up.")
@click.option("--update-baseline", "update_path", type=click.Path(dir_okay=False, path_type=str),
              help="Write the measured speed-ups to this baseline file (atomically; an "
                   "existing file needs --force).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --update-baseline: measure this many times; each kernel's baseline "
                   "is its slowest speed-up (robust to a noisy machine).")
@overwrite_option
@json_option
@handle_errors
def bench(full, size, only, list_cases, check_path, fraction, update_path, repeat, force,
          as_json):
    """Time each fast kernel beside its reference and print the speed-ups.

    Each row: the kernel, the median time of the fast path and of its reference (per
    call, or per update/image), and the speed-up (reference / fast, both measured in
    this run, interleaved, after warm-up rounds, so compilation never counts).
    Cases whose optional reference (PyTorch, OpenCV) is not installed are skipped.
    """
    from fastsoftmax import bench as lib

    if list_cases:
        for case in lib.CASES:
            echo(f"{case.name:24s} {case.description}")
        return
    if full and size not in (None, "full"):
        raise InputError("give --full or --size, not both")
    size = "full" if full else size
    quiet = is_quiet() or as_json
    for name in only:
        lib.get_case(name)  # unknown names fail before any work
    update_file = output_file(update_path, "--update-baseline", force)
    baseline = lib.load_baseline(check_path) if check_path else None
    if baseline is not None and size is None:
        size = baseline.get("size", "quick")
    size = size or "quick"
    if size == "full":
        lib.find_cifar_dev()  # a wrong $FASTSOFTMAX_BENCH_CIFAR fails before any work

    def progress(message):
        if not quiet:
            echo(f"bench: {message}", err=True)

    start = time.perf_counter()
    if baseline is not None:
        results, failures = lib.check(baseline, size=size, fraction=fraction, only=only,
                                      progress=progress)
        missing, new = lib.not_compared(results, baseline)
    else:
        results, failures, missing, new = lib.run(size, only=only, progress=progress), [], [], []
    seconds = time.perf_counter() - start
    if update_file:
        runs = [results]
        for k in range(1, repeat):
            progress(f"baseline run {k + 1}/{repeat}")
            runs.append(lib.run(size, only=only, progress=progress))
        lib.write_json_atomic(update_file, lib.make_baseline(runs, size))
        seconds = time.perf_counter() - start

    if as_json:
        payload = {"size": size, "seconds": round(seconds, 2), "results": results}
        if baseline is not None:
            payload["check"] = {"baseline": check_path, "fraction": fraction,
                                "passed": not failures,
                                "failures": [vars(f) | {"message": f.message} for f in failures],
                                "not_measured": missing, "not_in_baseline": new}
        if update_path:
            payload["baseline_written"] = update_path
        echo_json(payload)
    else:
        echo_lines(lib.format_table(results, baseline, fraction))
        echo(f"({size} sizes, {seconds:.1f} s; speed-up = reference time / fast time)")
        if update_path:
            echo(f"baseline written to {update_path}")
        if baseline is not None:
            if missing:
                echo(f"not measured here (skipped): {', '.join(missing)}")
            if new:
                echo(f"not in the baseline (not gated): {', '.join(new)}")
            if not failures:
                echo(f"gate passed: every speed-up is at least {fraction:.0%} of its baseline")
    if failures:
        for failure in failures:
            echo(f"Error: speed gate: {failure.message}", err=True)
        sys.exit(1)
