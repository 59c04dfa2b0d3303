"""``fastsoftmax evaluate``: a saved pipeline on a data set's test split."""
import click

from fastsoftmax.cli.building import load_pipeline
from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.dataset_options import data_option
from fastsoftmax.cli.folders import image_size_option, include_training_option
from fastsoftmax.cli.options import dpi_option, json_option, overwrite_option
from fastsoftmax.cli.output import echo, echo_json, echo_lines, printable
from fastsoftmax.cli.paths import output_file
from fastsoftmax.cli.progress import StageProgress, write_line
from fastsoftmax.cli.verbosity import is_quiet, log, log_seconds, log_threads


@click.command()
@click.option("-m", "--model", "model_path", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="A model file written by `fastsoftmax train --model`.")
@data_option
@image_size_option
@include_training_option
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str),
              help="Write the confusion matrix here (.png, .pdf or .svg).")
@dpi_option
@overwrite_option
@json_option
@handle_errors
def evaluate(model_path, data, image_size, include_training, plot_path, dpi, force, as_json):
    """Accuracy, precision, recall and F1 per class, and the confusion matrix of a saved model.

    Runs the model on the test images of --data: the held-out split of the built-in
    digits (the default) or of CIFAR-10, every image of an image folder
    root/<class>/ (a folder given here is a test set: nothing is split off), or
    root/test/<class>/ when root/train exists.  Classes are matched by folder name,
    not position: a folder may hold any subset of the model's classes, and a class
    the model does not know is an error.  Images must have the training size
    (--image-size resizes them).

    The images the model was trained on (the files its model file records: the same
    bytes, whatever their name) are left out of a folder, and counted; with
    --include-training-images they are scored too, with a warning.  A model that
    records no training files (trained on digits, CIFAR-10 or arrays, or by an older
    fastsoftmax) scores every image, with a warning.

    Precision: the share of the images predicted as a class that are of it;
    recall: the share of a class's images predicted as it; F1: their harmonic mean
    (as scikit-learn's classification_report).  "-" marks an undefined value (a
    class with no images, or never predicted).
    """
    from fastsoftmax.data import load_test_set
    from fastsoftmax.model.metrics import evaluate_predictions

    plot_file = output_file(plot_path, "--plot", force, dpi=dpi)
    quiet = is_quiet() or as_json
    pipe = load_pipeline(model_path)
    names = list(pipe.class_names or [str(c) for c in pipe.classes_])
    with StageProgress(quiet) as progress:
        with progress.stage("load"):
            dataset = load_test_set(data, names, image_size=image_size,
                                    training_files=pipe.training_files_,
                                    include_training=include_training)
        log.info("data: %s test images from %s", dataset.name,
                 data or "scikit-learn's bundled digits")
        log_threads()
        if tuple(dataset.image_shape[:2]) != tuple(pipe.image_shape_[:2]):
            height, width = pipe.image_shape_[:2]
            raise InputError(
                f"the data's images are {'x'.join(map(str, dataset.image_shape[:2]))} but the "
                f"model was trained on {height}x{width} (height x width)"
                + (f"; add --image-size {width}x{height} to resize them"
                   if dataset.name.startswith("folder:") else "")
            )
        with progress.stage("evaluate", len(dataset.y_test)) as evaluation:
            predicted = pipe.predict(dataset.X_test, progress=evaluation)
    log_seconds(progress.seconds)
    trained_on = _say_training_images(dataset, pipe, include_training, model_path)
    scores = evaluate_predictions(dataset.y_test, predicted, len(names))
    matrix = scores.confusion_matrix
    if plot_file:
        from fastsoftmax.plots.figures import plot_confusion_matrix

        plot_confusion_matrix(matrix, names, plot_file,
                              title=f"{dataset.name}, test split: accuracy {scores.accuracy:.4f}", dpi=dpi)
    result = {
        "data": dataset.name,
        "n_images": int(len(dataset.y_test)),
        **trained_on,
        **scores.to_dict(names),
        "class_names": names,
        "plot": plot_path,
    }
    if as_json:
        echo_json(result)
        return
    images = f"{result['n_images']} test images"
    if trained_on["n_left_out"]:
        images += f" ({trained_on['n_left_out']} the model was trained on left out)"
    elif trained_on["n_training_images_scored"]:
        images += (f" ({trained_on['n_training_images_scored']} of them the model was "
                   "trained on)")
    echo(f"{dataset.name}: {images}, accuracy {scores.accuracy:.4f}")
    names = [printable(n) for n in names]  # escaped first: the widths are those printed
    width = max(len(n) for n in names + ["weighted avg"])
    echo_lines(_scores_table(names, scores, width))
    echo("confusion matrix (rows: true class, columns: predicted):")
    cell = max(len(str(matrix.max())), 3)
    echo(" " * (width + 2) + " ".join(f"{n[:cell]:>{cell}}" for n in names))
    for name, row in zip(names, matrix):
        echo(f"  {name:<{width}}" + " ".join(f"{v:>{cell}}" for v in row))
    if plot_path and not is_quiet():
        echo(f"confusion matrix written to {plot_path}")


def _say_training_images(dataset, pipe, include_training, model_path):
    """Warn on stderr (even with -q: it changes what the accuracy means) when training
    images are scored, or may be; return the counts for the results."""
    n = len(dataset.y_test)
    counts = {"training_files_recorded": pipe.training_files_ is not None,
              "n_left_out": 0, "n_training_images_scored": 0}
    if dataset.n_trained_on is None:
        write_line(f"Warning: {model_path!r} does not record which image files the model was "
                   "trained on (trained on digits, CIFAR-10 or arrays, or by an older "
                   f"fastsoftmax): all {n} images are scored, and any it was trained on "
                   "make the accuracy too high")
    elif include_training:
        counts["n_training_images_scored"] = dataset.n_trained_on
        if dataset.n_trained_on:
            write_line(f"Warning: --include-training-images: {dataset.n_trained_on} of the {n} "
                       "images scored are images the model was trained on; the accuracy is "
                       "not a held-out score")
    else:
        counts["n_left_out"] = dataset.n_trained_on
    return counts


def _scores_table(names, scores, width):
    """Precision, recall, F1 and images per class, then the averages, as text."""
    def cell(value):
        return f"{'-':>9}" if value is None or value != value else f"{value:>9.4f}"

    lines = [f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'images':>7}"]
    for name, p, r, f, n in zip(names, scores.precision, scores.recall, scores.f1,
                                scores.support):
        lines.append(f"  {name:<{width}} {cell(p)} {cell(r)} {cell(f)} {n:>7}")
    total = int(scores.support.sum())
    for label, avg in (("macro avg", scores.macro_avg), ("weighted avg", scores.weighted_avg)):
        lines.append(f"  {label:<{width}} {cell(avg['precision'])} {cell(avg['recall'])} "
                     f"{cell(avg['f1'])} {total:>7}")
    return "\n".join(lines)
