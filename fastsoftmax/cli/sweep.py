"""``fastsoftmax sweep``: fit a grid of hyperparameters on features computed once."""
import time

import click

from .options import (InputError, ProgressBar, connect_scheduler, data_option, echo_json,
                      handle_errors, is_quiet, json_option, scheduler_option, seed_option)
from .train import CLASSIFIER_PARAMS, build_classifier, classifier_options

out_help = "Output folder for results.csv/.json, curves.npz and the PNG plots."
force_option = click.option("--force", is_flag=True,
                            help="Overwrite results already in the output folder.")
repeats_option = click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
                              help="Seeds per configuration (--seed, --seed+1, ...), for error bars.")
jobs_option = click.option("--jobs", "n_jobs", type=click.IntRange(min=1), default=2, show_default=True,
                           help="Runs fitted at once (threads; the Numba kernels release the GIL).")
val_option = click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                          default=0.15, show_default=True,
                          help="Stratified share of the training images held out for validation.")
pca_option = click.option("--pca-variance", type=click.FloatRange(0, 1, min_open=True), default=0.95,
                          show_default=True, help="Fraction of the HOG variance PCA keeps.")
cache_option = click.option("--no-cache", is_flag=True,
                            help="Recompute HOG features and PCA instead of using the disk cache.")


def load_features(data, val_fraction, seed, pca_variance, no_cache, quiet):
    """Load a data set and compute its features once: ``(dataset, features, sizes)``."""
    from ..data import load_dataset
    from ..experiments.sweep import prepare_features

    dataset = load_dataset(data)
    if not quiet:
        click.echo(f"{dataset.name}: {len(dataset.y_train)} training and {len(dataset.y_test)} "
                   f"test images of {'x'.join(map(str, dataset.image_shape))}; computing features",
                   err=True)
    features = prepare_features(dataset, val_fraction=val_fraction, seed=seed,
                                pca_variance=pca_variance, cache=not no_cache)
    sizes = {"train": len(features["y_train"]), "val": len(features["y_val"]),
             "test": len(features["y_test"]), "features": int(features["X_train"].shape[1]),
             "hog_features": features["n_hog_features"]}
    return dataset, features, sizes


def progress_callback(bar):
    """A ``run_sweep`` callback that moves ``bar`` and shows the last run's accuracy."""
    def callback(done, total, row):
        info = "diverged" if row["diverged"] else "failed" if row["error"] else \
            f"val {row['val_accuracy']:.3f}"
        bar.update(done, info)
    return callback


def public_rows(rows):
    """Rows without the loss curves and full parameter sets, for ``--json``."""
    return [{k: v for k, v in row.items() if k not in ("curve", "params")} for row in rows]


@click.command()
@click.argument("grid", nargs=-1, required=True, metavar="PARAM=V1,V2,... [PARAM2=...]")
@data_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=str), default="sweep-results",
              show_default=True, help=out_help)
@force_option
@repeats_option
@jobs_option
@scheduler_option
@val_option
@pca_option
@cache_option
@click.option("--preset", type=click.Choice(["default", "study"]), default="default", show_default=True,
              help="Base hyperparameters: the classifier's defaults, or the study's (see train --help).")
@classifier_options
@seed_option
@click.option("--no-plots", is_flag=True, help="Write the results but no PNG plots.")
@json_option
@handle_errors
def sweep(grid, data, out, force, repeats, n_jobs, scheduler, val_fraction, pca_variance, no_cache, preset, seed,
          no_plots, as_json, **options):
    """Fit every combination of the given hyperparameter values and compare them.

    Each PARAM=V1,V2,... names a SoftmaxClassifier parameter (batch_size,
    learning_rate, lr_schedule, n_iter, epochs, penalty, alpha, l1_ratio, l1_method,
    momentum, sampling, ...; dashes work too) and its values.  Two parameters give a
    grid.  Other hyperparameters come from the options below.

    HOG + PCA features are computed once; a stratified --val-fraction of the training
    images is held out for validation and the data set's test split is the test set.
    A run whose loss becomes non-finite is recorded as diverged.  The output folder
    gets results.csv and results.json (one row per run), curves.npz (loss curves) and
    PNG plots; `fastsoftmax report DIR` then writes a Markdown/HTML report.

    \b
    Example:
      fastsoftmax sweep learning_rate=1,0.1,0.01 lr_schedule=constant,step --repeats 3
    """
    from ..experiments.sweep import check_grid, check_output_folder, parse_grid

    quiet = is_quiet() or as_json
    parsed = parse_grid(grid)
    both = [name for name in parsed if name in CLASSIFIER_PARAMS and options.get(name) is not None]
    if both:
        raise InputError(f"{both[0]} is both swept and set by --{both[0].replace('_', '-')}; "
                         "give it once")
    base = build_classifier(options, preset, seed).get_params()
    base.pop("random_state")
    check_grid(parsed, base)
    with connect_scheduler(scheduler) as cluster:
        check_output_folder(out, force)
        result = run_and_write(parsed, base, data, out, repeats, n_jobs, val_fraction, pca_variance,
                               no_cache, seed, not no_plots, quiet, scheduler=cluster)
    if as_json:
        echo_json(result)
        return
    best = result["best"]
    if best:
        click.echo("best: " + ", ".join(f"{k}={v}" for k, v in best["config"].items())
                   + f"  validation accuracy {best['val_accuracy']:.4f}, "
                   f"test accuracy {best['test_accuracy']:.4f}")
        from ..experiments.report import grid_edge_sentences

        for sentence in grid_edge_sentences(best["config"], parsed):
            click.echo(sentence.replace("`", ""))
    if result["diverged_runs"]:
        click.echo(f"diverged: {result['diverged_runs']} of {result['runs']} runs")
    if result["failed_runs"]:
        first = next(r for r in result["rows"] if r["error"] and not r["diverged"])
        click.echo(f"failed: {result['failed_runs']} of {result['runs']} runs "
                   f"(run {first['run']}: {first['error']})")
    click.echo(f"{result['runs']} runs in {result['seconds']:.1f} s; results in {out}/ "
               f"({', '.join(sorted(result['plots']))} plots); "
               f"`fastsoftmax report {out}` writes the report")


def run_and_write(grid, base, data, out, repeats, n_jobs, val_fraction, pca_variance, no_cache,
                  seed, plots, quiet, title=None, features=None, scheduler=None):
    """Run one sweep into ``out`` (results, curves, plots); returns the JSON summary."""
    from ..experiments.sweep import expand_grid, run_sweep, summarize, write_results
    from ..experiments.report import best_entry

    if features is None:
        dataset, features, sizes = load_features(data, val_fraction, seed, pca_variance, no_cache, quiet)
        name = dataset.name
    else:
        name, features, sizes = features
    total = len(expand_grid(grid)) * repeats
    bar = ProgressBar(total, f"sweep {' x '.join(grid)}", quiet=quiet)
    start = time.perf_counter()
    try:
        rows = run_sweep(features["X_train"], features["y_train"], features["X_val"],
                         features["y_val"], features["X_test"], features["y_test"], grid,
                         base, repeats=repeats, n_jobs=n_jobs, callback=progress_callback(bar),
                         seed=seed, scheduler=scheduler)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    meta = {"title": title, "data": name, "sizes": sizes, "base_params": base, "repeats": repeats,
            "seed": seed, "n_jobs": n_jobs, "val_fraction": val_fraction,
            "pca_variance": pca_variance, "seconds": seconds}
    if scheduler is not None:
        meta["scheduler"] = scheduler.address
    files = write_results(rows, out, grid, meta)
    plot_paths = {}
    if plots:
        from ..experiments.plots import make_plots

        plot_paths = make_plots(out)
    names = [n for n in grid if len(grid[n]) > 1] or list(grid)
    best = best_entry(summarize(rows, names))
    return {
        "out": out,
        "data": name,
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
        "rows": public_rows(rows),
    }
