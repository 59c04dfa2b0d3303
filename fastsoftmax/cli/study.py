"""``fastsoftmax study``: the study's five analyses in one command, with one report."""
import time

import click

from fastsoftmax.cli.building import (check_cache_limit, connect_scheduler, feature_setup,
                                      load_features)
from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.dataset_options import data_option, labels_option
from fastsoftmax.cli.folders import image_size_option
from fastsoftmax.cli.options import (FiniteFloatRange, cache_option, feature_options,
                                     force_option, jobs_option, json_option, pca_option,
                                     resplit_option, scheduler_option, seed_option, val_option)
from fastsoftmax.cli.output import echo, echo_json
from fastsoftmax.cli.progress import ProgressBar, sweep_progress
from fastsoftmax.cli.verbosity import is_quiet


@click.command()
@data_option
@labels_option
@image_size_option
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=str), default="study-results",
              show_default=True, help="Output folder: one sub-folder per analysis, report.md/.html.")
@force_option
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per configuration (--seed, --seed+1, ...), for error bars.")
@jobs_option
@scheduler_option
@click.option("--n-iter", type=click.IntRange(min=1), default=None,
              help="Base number of updates. [default: the study's ~556 passes over the data, "
                   "clipped to 1,000..50,000]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Base batch size. [default: min(500, training samples / 4)]")
@click.option("--learning-rate", "--lr", "learning_rate", type=FiniteFloatRange(0, min_open=True),
              default=None, help="Base learning rate of the other analyses. [default: the best "
              "constant rate of the learning-rate analysis]")
@val_option
@resplit_option
@feature_options
@pca_option
@cache_option
@seed_option
@json_option
@handle_errors
def study(data, labels, image_size, out, force, repeats, n_jobs, scheduler, n_iter, batch_size, learning_rate, val_fraction,
          resplit, pca_variance, no_cache, seed, as_json, features_kind, **feature_params):
    """Run the study's analyses and write one report of what they measured.

    \b
    1. batch size: curve steadiness and where accuracy stops improving;
    2. learning rate x schedule (constant, step): divergence, too-slow rates, decay;
    3. number of updates: where the loss flattens;
    4. L2 strength: the best one (also in the study's summed-loss units);
    5. L1: proximal gradient against the subgradient (zeros in W).

    The base setup is the study's (constant learning rate, batches drawn with
    replacement, no momentum, L2 alpha 1.2/500), scaled to the data: the batch is
    min(500, n_train/4) and the updates keep the study's ~556 passes over the data.
    The learning-rate analysis runs first; the others use its best constant rate
    (the study's 0.01 was tuned to its own features) unless --learning-rate is given.
    The seeds vary the minibatch order on one validation split; with --resplit each
    seed draws its own split.  The report's sentences are generated from the measured numbers.  --features kmeans
    runs the same analyses on learned features (standardized, no PCA by default).
    """
    from fastsoftmax.experiments.study import ANALYSES, check_study_folder, run_study, study_plan
    from fastsoftmax.experiments.sweep import check_run_count, check_seeds

    from fastsoftmax.model.classifier import SoftmaxClassifier

    quiet = is_quiet() or as_json
    check_seeds(seed, repeats)
    setup = feature_setup(features_kind, feature_params, pca_variance)
    given = {"n_iter": n_iter, "batch_size": batch_size, "learning_rate": learning_rate}
    SoftmaxClassifier(**{k: v for k, v in given.items() if v is not None}).check_params()
    # each analysis is a sweep; its grid is largest for a large training set
    for name, analysis in study_plan(2**31, **given)["analyses"].items():
        try:
            check_run_count(analysis["grid"], repeats)
        except ValueError as exc:
            raise InputError(f"the {name} analysis: {exc}") from None
    check_cache_limit(no_cache)
    folder = check_study_folder(out, force)
    cluster = click.get_current_context().with_resource(connect_scheduler(scheduler))
    dataset, features, sizes = load_features(data, val_fraction, seed, setup, no_cache, quiet,
                                             image_size=image_size, labels=labels)
    if resplit:  # one split per seed, each drawn with its seed (the first is the one above)
        features = [features] + [load_features(data, val_fraction, seed + k, setup, no_cache,
                                               quiet, image_size=image_size, labels=labels)[1]
                                 for k in range(1, repeats)]
    plan = study_plan(sizes["train"], n_iter=n_iter, batch_size=batch_size,
                      learning_rate=learning_rate)
    if not quiet:
        echo(f"base: batch {plan['base']['batch_size']}, {plan['base']['n_iter']} updates, "
                   f"learning rate {plan['base']['learning_rate'] or 'from the learning-rate analysis'}; "
                   f"{repeats} seed(s) per configuration", err=True)
    bar = ProgressBar(1, "study", quiet=quiet)
    start = time.perf_counter()
    try:
        result = run_study(features, folder, plan, repeats=repeats, n_jobs=n_jobs, seed=seed,
                           progress=sweep_progress(bar), force=force, scheduler=cluster,
                           meta={"data": dataset.name, "sizes": sizes, "val_fraction": val_fraction,
                                 "features": setup["kind"], "feature_params": setup["params"],
                                 "standardize": setup["standardize"],
                                 "pca_variance": setup["pca_variance"]})
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    if as_json:
        echo_json({"out": out, "data": dataset.name, "sizes": sizes, "plan": plan,
                   "seconds": round(seconds, 3), "findings": result["findings"],
                   "report": result["report"]})
        return
    for name in ANALYSES:
        if name in result["findings"]:
            echo(f"{plan['analyses'][name]['title']}: " + " ".join(result["findings"][name]["text"]))
            echo("")
    echo(f"study done in {seconds:.1f} s; report: {result['report']['markdown']} and "
               f"{result['report']['html']}")
