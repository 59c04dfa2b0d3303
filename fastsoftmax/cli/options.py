"""Options and helpers shared by the commands: the one home of everything two commands use."""
import functools
import json
import logging
import os
import sys

import click

from fastsoftmax.cli.output import dependency_message, echo, message_of, printable, printable_json
from fastsoftmax.cli.progress import ProgressBar, StageProgress, write_line  # noqa: F401  (for the commands)
from fastsoftmax.cli.signals import Interrupted, check_interrupt, signal_of  # noqa: F401  (for the commands)

log = logging.getLogger("fastsoftmax.cli")


class InputError(click.ClickException):
    """A user error: one line on stderr and exit code 2, never a traceback."""

    exit_code = 2

    def show(self, file=None):
        echo(f"Error: {self.format_message()}", err=True)


#: Exceptions that mean bad input (a path, a file, a value, a cluster address, an input
#: too large for memory): one line, exit 2.  A missing or too old package is not bad
#: input (:func:`dependency_message`, exit 1); anything else escaping a command is a bug:
#: exit 1 with an "internal error" line.
USER_ERRORS = (ValueError, OSError, MemoryError, RecursionError)


class InternalError(click.ClickException):
    """A bug: a short line on stderr (the traceback with ``-v``) and exit code 1."""

    exit_code = 1

    def show(self, file=None):
        echo(f"Error: {self.format_message()}", err=True)


def first_line(exc):
    """The first non-empty line of ``str(exc)`` (the exception's type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def handle_errors(func):
    """Turn what escapes a command into one line on stderr and an exit code.

    - user errors (:class:`InputError`, and ``ValueError``/``OSError``/... from the
      library: :data:`USER_ERRORS`): ``Error: <message>`` (:func:`message_of`), exit 2;
    - ``ImportError``: a package missing or too old (:func:`dependency_message`), exit 1;
    - ``MemoryError``: ``Error: out of memory: ...``, exit 2;
    - ``KeyboardInterrupt`` (Ctrl-C; SIGTERM and SIGHUP raise one too): ``Aborted.``,
      exit 130 (``Aborted (SIGTERM).``, 143; ``Aborted (SIGHUP).``, 129); what was being
      written is removed on the way out by the atomic writers' cleanup;
    - anything else (``KeyError``, ``TypeError``, ``AttributeError``...: a bug):
      ``Error: internal error: <type>: <message>; please report it; run with -v for the
      traceback``, exit 1; with ``-v`` the traceback is printed first.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as the docs of Python's
            # signal module advise, instead of reporting an error nobody will read.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except KeyboardInterrupt as exc:
            raise Interrupted(signal_of(exc)) from None
        except MemoryError:
            raise InputError("out of memory: the input is too large for this machine") from None
        except ImportError as exc:  # a package missing or too old: not bad input, not a bug
            text = dependency_message(exc)
            raise (InternalError(text) if text else internal_error(exc)) from None
        except USER_ERRORS as exc:
            # a library error that names its parameters may say it with our options
            wording = getattr(exc, "cli_message", None)
            raise InputError(printable(wording()) if callable(wording) else message_of(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a bug: say so, never as a user error
            raise internal_error(exc) from None

    return wrapper


def internal_error(exc):
    """The :class:`InternalError` of an unexpected exception (traceback on stderr with ``-v``)."""
    verbose = False
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        root = ctx.find_root()
        verbose = bool(root.obj and root.obj.get("verbose"))
    if verbose:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return InternalError(f"internal error: {type(exc).__name__}: {first_line(exc)}; please report "
                         "it; run with -v for the traceback")


class FiniteFloatRange(click.FloatRange):
    """A ``click.FloatRange`` that also refuses ``nan`` and ``inf`` (which pass every
    range comparison or bound, and would fail only deep in the work)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


#: Largest seed: NumPy's legacy generators (scikit-learn's splits) take 0..2**32-1.
MAX_SEED = 2**32 - 1

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with the results instead of text."
)
seed_option = click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
    help="Random seed (validation split, minibatch order, initial weights)."
)
data_option = click.option(
    "-d", "--data",
    type=click.Path(path_type=str),
    default=None,
    help="Data set: a CIFAR-10 folder or archive, or an image folder. "
    "Default: scikit-learn's bundled digits images (no download).",
)


def is_quiet(ctx=None):
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet"))


def echo_json(payload):
    """Print ``payload`` as JSON, every string in it through :func:`printable_json`."""
    click.echo(json.dumps(printable_json(payload), indent=2, sort_keys=False,
                          default=_json_default))


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return printable_json(value.tolist())
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# ---------------------------------------------------------------------- -q and -v
class _EchoHandler(logging.Handler):
    """Log records on the current stderr (click's, so CliRunner captures them)."""

    def emit(self, record):
        try:
            write_line(self.format(record))
        except Exception:  # noqa: BLE001  (logging must never fail the command)
            self.handleError(record)


def set_verbosity(ctx, quiet=False, verbose=0):
    """Record ``-q``/``-v`` in the root context and set the level of fastsoftmax's logs.

    Called by the group's options and by each command's (so ``fastsoftmax train -q``
    equals ``fastsoftmax -q train``); given twice, ``-q`` wins and the ``-v`` add up.
    Logs go to stderr: warnings by default, the facts of ``-v`` (data and cache used,
    threads, seconds per stage), debug details with ``-vv``, errors only with ``-q``.
    """
    root = ctx.find_root()
    root.ensure_object(dict)
    quiet = root.obj["quiet"] = bool(root.obj.get("quiet")) or bool(quiet)
    verbose = root.obj["verbose"] = int(root.obj.get("verbose") or 0) + int(verbose or 0)
    logger = logging.getLogger("fastsoftmax")
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        handler = _EchoHandler()
        handler.setFormatter(logging.Formatter("fastsoftmax: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else max(logging.WARNING - 10 * verbose, logging.DEBUG))


QUIET_HELP = "No progress bars or log messages; results only."
VERBOSE_HELP = ("Log what happens: data and cache used, threads, seconds per stage "
                "(-vv: more detail).")


def _verbosity_callback(ctx, param, value):
    if value:
        set_verbosity(ctx, **{param.name: value})
    return value


def verbosity_options(command):
    """Give ``command`` (and every subcommand of a group) the options ``-q``/``--quiet``
    and ``-v``/``--verbose``, so that they work after the command name too."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if "-q" not in taken and "--quiet" not in taken:
        click.option("-q", "--quiet", is_flag=True, expose_value=False, help=QUIET_HELP,
                     callback=_verbosity_callback)(command)
    if "-v" not in taken and "--verbose" not in taken:
        click.option("-v", "--verbose", count=True, expose_value=False, help=VERBOSE_HELP,
                     callback=_verbosity_callback)(command)
    for sub in getattr(command, "commands", {}).values():
        verbosity_options(sub)
    return command


# ---------------------------------------------------------------------- output paths
#: The one rule for every output (files and folders): an existing one is refused
#: before any work unless --force.
overwrite_option = click.option(
    "--force", is_flag=True,
    help="Overwrite output files that already exist (without it, an existing output is "
         "refused before any work).")


def output_file(path, option, force, dpi=None):
    """The checked, resolved path of an output-file option (``None`` when not given).

    The one check of every file the commands write, before any work: the path is
    resolved as the file system will see it (:func:`fastsoftmax.io.paths.resolve_output`:
    an empty path is refused), and what is checked is what the command then writes.
    Its folder must exist and take a new file (tried for real); its name must fit the
    file system (temporary names beside it are shortened to fit); an existing one must
    be a regular file (a folder, FIFO, device or socket is refused, ``force`` or not)
    and is refused without ``force``.  With ``dpi``, the path is a figure (png, pdf,
    svg).  Temporary files that killed earlier writes of it left are removed.

    Parameters
    ----------
    path : str or None
        The option's value.
    option : str
        The option, named in the messages (``"--model"``).
    force : bool
        Whether an existing regular file may be replaced.
    dpi : float, optional
        Check the path as a figure of this resolution.

    Returns
    -------
    str or None
        The absolute, resolved path to write.
    """
    if path is None:
        return None
    from fastsoftmax.io.atomic import check_writable_folder, remove_stale
    from fastsoftmax.io.paths import check_name_fits, check_replaceable, resolve_output

    try:
        resolved = resolve_output(path, option)
        folder = os.path.dirname(resolved)
        if not os.path.isdir(folder):
            raise InputError(f"{option}: folder {folder!r} does not exist")
        check_name_fits(resolved, option)
        if os.path.isdir(resolved):
            raise InputError(f"{option}: {resolved!r} is a folder")
        check_replaceable(resolved, option)
        if dpi is not None:
            from fastsoftmax.plots.figures import check_figure_path

            check_figure_path(resolved, dpi)
        check_writable_folder(folder, option)
        if os.path.lexists(resolved) and not force:
            raise InputError(f"{option}: {path!r} already exists; add --force to overwrite it")
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
    remove_stale(resolved)
    return resolved


dpi_option = click.option(
    "--dpi", type=FiniteFloatRange(min=1, max=2400), default=120, show_default=True,
    help="Resolution of the figure (pixels per inch; for PDF/SVG only their raster parts).")


# ---------------------------------------------------------------------- models and data
def load_pipeline(model_path):
    """Load a model file that holds a whole image pipeline (one-line errors otherwise)."""
    from fastsoftmax.model.loading import load_model
    from fastsoftmax.model.pipeline import ImagePipeline

    model = load_model(model_path)
    if not isinstance(model, ImagePipeline):
        raise InputError(
            f"{model_path!r} holds a bare {type(model).__name__}, not an image pipeline; "
            "save one with `fastsoftmax train --model PATH`"
        )
    return model


def load_data(data, quiet, download=False, progress=None, **folder):
    """Load a data set (``folder``: the image-folder parameters of ``load_dataset``), say
    what it is on stderr, and log where it came from."""
    from fastsoftmax.data import load_dataset

    dataset = load_dataset(data, download=download, progress=progress, **folder)
    log.info("data: %s from %s", dataset.name,
             os.path.abspath(data) if data else "scikit-learn's bundled digits (built in)")
    if not quiet:
        write_line(f"{dataset.name}: {len(dataset.y_train)} training and {len(dataset.y_test)} "
                   f"test images of {'x'.join(map(str, dataset.image_shape))}")
    return dataset


def log_threads():
    """Log how many threads the kernels use (``-v``)."""
    import numba

    log.info("threads: %d (numba; NUMBA_NUM_THREADS sets it), %d CPUs", numba.get_num_threads(),
             os.cpu_count() or 1)


def log_cache(enabled):
    """Log the cache folder, its size and limit, or that it is off (``-v``)."""
    if not log.isEnabledFor(logging.INFO):
        return
    if not enabled:
        log.info("cache: off (--no-cache); features and PCA are computed")
        return
    from fastsoftmax.io.cache import cache_info, format_size

    info = cache_info()
    limit = info["limit_bytes"]
    log.info("cache: %s (%d entries, %s; limit %s)", info["path"], info["entries"],
             format_size(info["size_bytes"]),
             "none" if limit is None else "0: off" if limit == 0 else format_size(limit))


def log_seconds(seconds):
    """Log the seconds of each stage (``-v``)."""
    log.info("seconds: %s", ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))


# ---------------------------------------------------------------------- classifier options
def classifier_options(func):
    """Every SoftmaxClassifier hyperparameter as an option (default: the classifier's).

    The real-valued ones are plain floats here: :func:`build_classifier` checks every
    value (``nan`` and ``inf`` included) against the classifier's own rules, before any
    work, so the message states the rule.
    """
    options = [
        click.option("--batch-size", type=click.IntRange(min=1), help="Samples per minibatch. [default: 256]"),
        click.option("--learning-rate", "--lr", "learning_rate", type=float,
                     help="Initial learning rate (> 0). [default: 0.1]"),
        click.option("--lr-schedule", type=click.Choice(["constant", "step", "invscaling"]),
                     help="Learning-rate schedule: step halves it every --lr-decay-steps updates. [default: step]"),
        click.option("--lr-decay-steps", type=click.IntRange(min=1),
                     help="Updates per decay period. [default: a fifth of all updates]"),
        click.option("--n-iter", type=click.IntRange(min=1),
                     help="Number of minibatch updates (exclusive with --epochs)."),
        click.option("--epochs", type=click.IntRange(min=1),
                     help="Passes over the training data. [default: 10, and at least 1,000 updates]"),
        click.option("--sampling", type=click.Choice(["shuffle", "replacement"]),
                     help="shuffle: each epoch uses every image once, in a new order; "
                          "replacement: each batch is drawn at random (the study's). "
                          "[default: shuffle]"),
        click.option("--penalty", type=click.Choice(["none", "l2", "l1", "elasticnet"]),
                     help="Weight penalty. [default: l2]"),
        click.option("--alpha", type=float, help="Penalty strength. [default: 0.0001]"),
        click.option("--l1-ratio", type=float, help="Elastic-net L1 share in [0, 1]. [default: 0.15]"),
        click.option("--l1-method", type=click.Choice(["proximal", "subgradient"]),
                     help="proximal: shrink the weights towards 0 after each update (gives "
                          "exact zeros); subgradient: add alpha * sign(W) to the gradient "
                          "(the study's). [default: proximal]"),
        click.option("--momentum", type=float,
                     help="Share of the previous update added to each update, in [0, 1). "
                          "[default: 0.9]"),
        click.option("--early-stopping/--no-early-stopping", default=None,
                     help="Stop when a 10% validation split stops improving. [default: off]"),
        click.option("--backend", type=click.Choice(["numba", "numpy"]),
                     help="numba: the fast compiled code; numpy: the plain NumPy version the "
                          "tests compare it with (slower). [default: numba]"),
        click.option("--dtype", type=click.Choice(["float32", "float64"]),
                     help="Number precision of training (float64: slower, for checks). "
                          "[default: float32]"),
        click.option("--class-weight", type=click.Choice(["balanced"]),
                     help="balanced: weigh each class by n_samples / (n_classes * its count), "
                          "so rare classes count as much as common ones. [default: none]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: The classifier parameters :func:`classifier_options` sets.
CLASSIFIER_PARAMS = ("batch_size", "learning_rate", "lr_schedule", "lr_decay_steps", "n_iter",
                     "epochs", "sampling", "penalty", "alpha", "l1_ratio", "l1_method", "momentum",
                     "early_stopping", "backend", "dtype", "class_weight")

preset_option = click.option(
    "--preset", type=click.Choice(["default", "study"]), default="default", show_default=True,
    help="study: the study's batch 500, learning rate 0.01, 50,000 updates with replacement, "
         "L2 alpha = 1.2/500 (its 1.2 was against the summed batch loss).")


def build_classifier(options, preset, seed, defaults=None):
    """The classifier of the options given over the preset's (``defaults``, e.g. those of
    ``--features kmeans``, without a preset); checked before any data is read."""
    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax._shared.presets import STUDY_PRESET

    params = dict(STUDY_PRESET) if preset == "study" else dict(defaults or {})
    given = {name: options[name] for name in CLASSIFIER_PARAMS if options.get(name) is not None}
    if "epochs" in given:
        params.pop("n_iter", None)
    if "n_iter" in given:
        params.pop("epochs", None)
    params.update(given)
    classifier = SoftmaxClassifier(random_state=seed, **params)
    classifier.check_params()
    return classifier


# ---------------------------------------------------------------------- feature steps
#: ``--features kmeans`` parameters: option name -> KMeansFeatures parameter.
KMEANS_OPTIONS = {"n_centroids": "--n-centroids", "patch_size": "--patch-size",
                  "stride": "--stride", "n_patches": "--n-patches", "power": "--power",
                  "whiten_eps": "--whiten-eps"}


def feature_options(func):
    """``--features`` and the learned features' parameters (train, sweep, study)."""
    from fastsoftmax._shared.presets import FEATURE_SETUPS, KMEANS_FEATURES

    options = [
        click.option("--features", "features_kind", type=click.Choice(list(FEATURE_SETUPS)),
                     default="hog", show_default=True,
                     help="hog: the study's HOG, then PCA. kmeans: learned features (Coates et "
                          "al. 2011: a k-means dictionary of image patches, 4 x --n-centroids "
                          "features, square-rooted), standardized, no PCA, and classifier "
                          "defaults for them (learning rate 0.01, alpha 0.001, 100 epochs) unless "
                          "set; train also uses the mirror images (--flip, --flip-predict)."),
        click.option("--n-centroids", type=click.IntRange(min=1),
                     help=f"kmeans: dictionary size. [default: {KMEANS_FEATURES['n_centroids']}]"),
        click.option("--patch-size", type=click.IntRange(min=2),
                     help=f"kmeans: patch side in pixels. [default: {KMEANS_FEATURES['patch_size']}]"),
        click.option("--stride", type=click.IntRange(min=1),
                     help=f"kmeans: step between encoded patches. [default: {KMEANS_FEATURES['stride']}]"),
        click.option("--n-patches", type=click.IntRange(min=1),
                     help="kmeans: random training patches for the whitening and the "
                          f"dictionary. [default: {KMEANS_FEATURES['n_patches']:,}]"),
        click.option("--power", type=FiniteFloatRange(0, 1, min_open=True),
                     help="kmeans: the pooled sums are raised to this power; 1 keeps the "
                          "paper's sums, 0.5 (square roots) scores higher. "
                          f"[default: {KMEANS_FEATURES['power']}]"),
        click.option("--whiten-eps", type=FiniteFloatRange(0, min_open=True),
                     help="kmeans: ZCA whitening regularization, added to the patch "
                          "covariance's eigenvalues (larger amplifies the finest detail "
                          "less); the paper used 0.1. "
                          f"[default: {KMEANS_FEATURES['whiten_eps']}]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def feature_setup(kind, options, pca_variance, hog_params=None):
    """What ``--features kind`` sets up, checked before any data is read.

    Returns a dict: ``kind``, ``params`` (the feature step's parameters given),
    ``pca_variance`` (the option's, else the kind's default: 0.95 for HOG, none for
    kmeans), ``standardize`` and ``classifier`` (classifier defaults).  ``options``
    holds the :func:`feature_options` values (they are removed from it).
    """
    from fastsoftmax._shared.presets import FEATURE_SETUPS

    params = {name: options.pop(name) for name in KMEANS_OPTIONS if name in options}
    params = {name: value for name, value in params.items() if value is not None}
    hog_params = {name: value for name, value in (hog_params or {}).items() if value is not None}
    if kind != "kmeans" and params:
        raise InputError(f"{KMEANS_OPTIONS[next(iter(params))]} is for --features kmeans")
    if kind != "hog" and hog_params:
        raise InputError(f"--{next(iter(hog_params)).replace('_', '-')} is for --features hog")
    setup = FEATURE_SETUPS[kind]
    if kind == "kmeans":
        from fastsoftmax.features import make_feature_step

        try:
            make_feature_step(kind, None, **params)
        except (TypeError, ValueError) as exc:
            raise InputError(str(exc)) from None
    else:
        params = {name: (value,) * 2 if name == "pixels_per_cell" else value
                  for name, value in hog_params.items()}
    return {"kind": kind, "params": params, "standardize": setup["standardize"],
            "pca_variance": setup["pca_variance"] if pca_variance is None else pca_variance,
            "flip_train": setup["flip_train"], "flip_predict": setup["flip_predict"],
            "classifier": setup["classifier"]}


def build_features(setup, image_shape, seed):
    """The unfitted feature step of a :func:`feature_setup` for images of ``image_shape``."""
    from fastsoftmax.features import make_feature_step

    return make_feature_step(setup["kind"], image_shape, random_state=seed, **setup["params"])


# ---------------------------------------------------------------------- sweeps and the study
force_option = click.option("--force", is_flag=True,
                            help="Replace complete results already in the output folder "
                                 "(without it, a folder holding results is refused before any "
                                 "work).")
#: Most fits at once (``--jobs``): each is a thread; more would only exhaust the machine.
MAX_JOBS = 256
jobs_option = click.option("-j", "--jobs", "n_jobs", type=click.IntRange(1, MAX_JOBS), default=2,
                           show_default=True,
                           help="How many runs train at once (threads of this process).")
val_option = click.option("--val-fraction", type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
                          default=0.15, show_default=True,
                          help="Stratified share of the training images held out for validation.")
pca_option = click.option("--pca-variance", type=FiniteFloatRange(0, 1, min_open=True), default=None,
                          help="Fraction of the features' variance PCA keeps (1 keeps all "
                          "components). [default: 0.95 with --features hog; no PCA with kmeans]")
cache_option = click.option("--no-cache", is_flag=True,
                            help="Recompute features and PCA instead of using the disk cache.")


def check_cache_limit(no_cache):
    """Read ``$FASTSOFTMAX_CACHE_LIMIT`` before any work, so a bad one fails at once."""
    if not no_cache:
        from fastsoftmax.io.cache import cache_limit

        cache_limit()


def load_features(data, val_fraction, seed, setup, no_cache, quiet, image_size=None):
    """Load a data set and compute its features once (the :func:`feature_setup`'s step,
    standardization and PCA): ``(dataset, features, sizes)``."""
    from fastsoftmax.experiments.sweep import prepare_features

    with StageProgress(quiet) as progress:
        with progress.stage("load"):
            dataset = load_data(data, quiet, image_size=image_size)
        log_threads()
        log_cache(not no_cache)
        features = prepare_features(dataset, val_fraction=val_fraction, seed=seed,
                                    pca_variance=setup["pca_variance"],
                                    features=build_features(setup, dataset.image_shape, seed),
                                    standardize=setup["standardize"], cache=not no_cache,
                                    progress=progress)
    log_seconds(progress.seconds)
    sizes = {"train": len(features["y_train"]), "val": len(features["y_val"]),
             "test": len(features["y_test"]), "features": int(features["X_train"].shape[1]),
             "feature_step": setup["kind"], "image_features": features["n_image_features"],
             "standardized": setup["standardize"], "pca": setup["pca_variance"] is not None}
    if setup["kind"] == "hog":
        sizes["hog_features"] = features["n_image_features"]
    return dataset, features, sizes


def sweep_progress(bar):
    """A ``run_sweep``/``run_study`` progress callback (stage ``"sweep"``) that moves
    ``bar`` (to the total the library gives) and shows the last run's accuracy."""
    def progress(stage, done, total, row=None, **info):
        check_interrupt()
        if total != bar.total:
            bar.set_total(total)
        shown = (None if row is None else "diverged" if row["diverged"]
                 else "failed" if row.get("error") else f"val {row['val_accuracy']:.3f}")
        bar.update(done, shown)
    return progress
scheduler_option = click.option(
    "--scheduler",
    envvar="FASTSOFTMAX_SCHEDULER",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the fits on this Dask cluster (`dask scheduler` prints the address; needs "
    'pip install "fastsoftmax[distributed]"); --jobs is then ignored. Also read from '
    "$FASTSOFTMAX_SCHEDULER. Default: local threads.",
)


def connect_scheduler(address):
    """A context manager holding the Dask cluster at ``address`` (``None`` without one).

    It connects at once, before any work, so a wrong address or a missing
    ``distributed`` package is a one-line error (exit 2) within seconds.
    """
    import contextlib

    if not address or not address.strip():
        return contextlib.nullcontext(None)
    from fastsoftmax.experiments.distributed import connect

    try:
        return connect(address)
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
