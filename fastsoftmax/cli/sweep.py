"""``fastsoftmax sweep``: fit a grid of hyperparameters on features computed once."""
import time

import click

from fastsoftmax.cli.building import (build_classifier, check_cache_limit, connect_scheduler,
                                      feature_params, feature_setup, load_features)
from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.dataset_options import data_option, labels_option
from fastsoftmax.cli.folders import image_size_option
from fastsoftmax.cli.options import (CLASSIFIER_PARAMS, cache_option, classifier_options,
                                     feature_options, force_option, jobs_option,
                                     json_option, pca_option, preset_option, scheduler_option,
                                     resplit_option, seed_option, val_option)
from fastsoftmax.cli.output import echo, echo_json
from fastsoftmax.cli.progress import ProgressBar, sweep_progress
from fastsoftmax.cli.signals import check_interrupt
from fastsoftmax.cli.verbosity import is_quiet


@click.command()
@click.argument("grid", nargs=-1, required=True, metavar="PARAM=V1,V2,... [PARAM2=...]")
@data_option
@labels_option
@image_size_option
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=str), default="sweep-results",
              show_default=True,
              help="Output folder for results.csv/.json, curves.npz and the PNG plots.")
@force_option
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Seeds per configuration (--seed, --seed+1, ...), for error bars.")
@jobs_option
@scheduler_option
@val_option
@resplit_option
@feature_options
@pca_option
@cache_option
@preset_option
@classifier_options
@seed_option
@click.option("--no-plots", is_flag=True, help="Write the results but no PNG plots.")
@json_option
@handle_errors
def sweep(grid, data, labels, image_size, out, force, repeats, n_jobs, scheduler, val_fraction, resplit,
          features_kind, pca_variance, no_cache, preset, seed, no_plots, as_json, **options):
    """Fit every combination of the given hyperparameter values and compare them.

    Each PARAM=V1,V2,... names a SoftmaxClassifier parameter (batch_size,
    learning_rate, lr_schedule, n_iter, epochs, penalty, alpha, l1_ratio, l1_method,
    momentum, sampling, ...; dashes work too) and its values.  Two parameters give a
    grid.  Other hyperparameters come from the options below.

    The features (HOG + PCA, or with --features kmeans learned features, standardized)
    are computed once; a stratified --val-fraction of the training
    images is held out for validation and the data set's test split is the test set.
    The seeds (--repeats) vary only the minibatch order on that one split; with
    --resplit each seed draws its own split (and features fitted on its training part).
    A run whose loss becomes non-finite is recorded as diverged.  The output folder
    gets results.csv and results.json (one row per run), curves.npz (loss curves) and
    PNG plots; `fastsoftmax report DIR` then writes a Markdown/HTML report.

    \b
    Example:
      fastsoftmax sweep learning_rate=1,0.1,0.01 lr_schedule=constant,step --repeats 3
    """
    from fastsoftmax.experiments.results import check_output_folder
    from fastsoftmax.experiments.sweep import check_grid, check_run_count, check_seeds, parse_grid

    quiet = is_quiet() or as_json
    parsed = parse_grid(grid)
    check_run_count(parsed, repeats)
    both = [name for name in parsed if name in CLASSIFIER_PARAMS and options.get(name) is not None]
    if both:
        raise InputError(f"{both[0]} is both swept and set by --{both[0].replace('_', '-')}; "
                         "give it once")
    setup = feature_setup(features_kind, options, pca_variance, preset=preset)
    base = build_classifier(options, preset, seed, defaults=setup["classifier"]).get_params()
    base.pop("random_state")
    check_grid(parsed, base)
    check_seeds(seed, repeats)
    check_cache_limit(no_cache)
    folder = check_output_folder(out, force)
    with connect_scheduler(scheduler) as cluster:
        result = _run_and_write(parsed, base, data, out, folder, repeats, n_jobs, val_fraction,
                                setup, no_cache, seed, not no_plots, quiet,
                                scheduler=cluster, force=force, image_size=image_size,
                                resplit=resplit, labels=labels)
    if as_json:
        echo_json(result)
        return
    best = result["best"]
    if best:
        echo("best: " + ", ".join(f"{k}={v}" for k, v in best["config"].items())
                   + f"  validation accuracy {best['val_accuracy']:.4f}, "
                   f"test accuracy {best['test_accuracy']:.4f}")
        from fastsoftmax.experiments.report import grid_edge_sentences

        for sentence in grid_edge_sentences(best["config"], parsed):
            echo(sentence.replace("`", ""))
    if result["diverged_runs"]:
        echo(f"diverged: {result['diverged_runs']} of {result['runs']} runs")
    if result["failed_runs"]:
        first = next(r for r in result["rows"] if r["error"] and not r["diverged"])
        echo(f"failed: {result['failed_runs']} of {result['runs']} runs "
                   f"(run {first['run']}: {first['error']})")
    plots = f"{', '.join(sorted(result['plots']))} plots" if result["plots"] else "no plots"
    echo(f"{result['runs']} runs in {result['seconds']:.1f} s; results in {out}/ "
               f"({plots}); "
               f"`fastsoftmax report {out}` writes the report")


def _run_and_write(grid, base, data, out, folder, repeats, n_jobs, val_fraction, setup,
                   no_cache, seed, plots, quiet, scheduler=None, force=False, image_size=None,
                   resplit=False, labels=None):
    """Run one sweep and publish it at ``folder`` (``out`` as checked and resolved) as a
    whole (results, curves, plots: built in a hidden folder beside it, renamed into
    place at the end); returns the JSON summary, which names ``out`` as given."""
    from fastsoftmax.experiments.report import best_entry
    from fastsoftmax.experiments.results import moved, publishing, write_results
    from fastsoftmax.experiments.stats import summarize
    from fastsoftmax._shared.progress import shifted
    from fastsoftmax.experiments.sweep import count_runs, merge_seed_sweeps, run_sweep

    with publishing(folder, force) as stage:
        total = count_runs(grid, repeats)
        splits = [seed + k for k in range(repeats)] if resplit else [seed]
        per_seed, seconds = [], 0.0
        for k, split_seed in enumerate(splits):
            dataset, features, split_sizes = load_features(data, val_fraction, split_seed, setup,
                                                           no_cache, quiet, image_size=image_size,
                                                           labels=labels)
            if k == 0:
                sizes = split_sizes  # each split holds the same counts
            bar = ProgressBar(total, f"sweep {' x '.join(grid)}", quiet=quiet)
            start = time.perf_counter()
            try:
                per_seed.append(run_sweep(
                    features["X_train"], features["y_train"], features["X_val"],
                    features["y_val"], features["X_test"], features["y_test"], grid, base,
                    repeats=repeats if not resplit else 1, n_jobs=n_jobs,
                    progress=shifted(sweep_progress(bar), k * total // len(splits), total),
                    seed=split_seed, scheduler=scheduler))
            finally:
                bar.close()
            seconds += time.perf_counter() - start
        rows = merge_seed_sweeps(per_seed) if resplit else per_seed[0]
        meta = {"title": None, "data": dataset.name, "sizes": sizes, "base_params": base,
                "repeats": repeats, "seed": seed, "n_jobs": n_jobs, "val_fraction": val_fraction,
                "resplit": resplit,
                "features": setup["kind"],
                "feature_params": feature_params(setup, dataset.image_shape),
                "standardize": setup["standardize"], "pca_variance": setup["pca_variance"],
                "seconds": seconds}
        if scheduler is not None:
            meta["scheduler"] = scheduler.address
        files = write_results(rows, stage, grid, meta)
        plot_paths = {}
        if plots:
            from fastsoftmax.experiments.plots import make_plots

            plot_paths = make_plots(stage)
        check_interrupt()  # a Ctrl-C swallowed on the way never publishes
    files, plot_paths = moved(files, stage, out), moved(plot_paths, stage, out)
    names = [n for n in grid if len(grid[n]) > 1] or list(grid)
    best = best_entry(summarize(rows, names))
    return {
        "out": out,
        "data": dataset.name,
        "grid": grid,
        "runs": len(rows),
        "diverged_runs": sum(bool(r["diverged"]) for r in rows),
        "failed_runs": sum(bool(r["error"]) and not r["diverged"] for r in rows),
        "seconds": round(seconds, 3),
        "best": None if best is None else {
            "config": {n: best[n] for n in names},
            "val_accuracy": best["val_accuracy_mean"],
            "test_accuracy": best["test_accuracy_mean"],
        },
        "files": files,
        "plots": plot_paths,
        "rows": [{k: v for k, v in row.items() if k not in ("curve", "params")} for row in rows],
    }
