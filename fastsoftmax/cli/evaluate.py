"""``fastsoftmax evaluate``: a saved pipeline on a data set's test split."""
import click

from .options import (InputError, check_figure_output, data_option, dpi_option, echo_json,
                      handle_errors, is_quiet, json_option, load_pipeline)


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="A model file written by `fastsoftmax train --model`.")
@data_option
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str),
              help="Write the confusion matrix here (.png, .pdf or .svg).")
@dpi_option
@json_option
@handle_errors
def evaluate(model_path, data, plot_path, dpi, as_json):
    """Accuracy, per-class accuracy and confusion matrix of a saved model.

    Runs the model on the test images of --data: the held-out split of the built-in
    digits (the default) or of CIFAR-10, every image of an image folder
    root/<class>/ (a folder given here is a test set: nothing is split off), or
    root/test/<class>/ when root/train exists.  Classes are matched by folder name,
    not position: a folder may hold any subset of the model's classes, and a class
    the model does not know is an error.  Images must have the training size.
    """
    from ..evaluation import evaluate_predictions

    from ..data import load_test_set

    check_figure_output(plot_path, dpi)
    pipe = load_pipeline(model_path)
    names = list(pipe.class_names or [str(c) for c in pipe.classes_])
    dataset = load_test_set(data, names)
    if tuple(dataset.image_shape[:2]) != tuple(pipe.image_shape_[:2]):
        raise InputError(
            f"the data's images are {'x'.join(map(str, dataset.image_shape[:2]))} but the model "
            f"was trained on {'x'.join(map(str, pipe.image_shape_[:2]))}"
        )
    scores = evaluate_predictions(dataset.y_test, pipe.predict(dataset.X_test), len(names))
    matrix = scores.confusion_matrix
    if plot_path:
        from ..plots import plot_confusion_matrix

        plot_confusion_matrix(matrix, names, plot_path,
                              title=f"{dataset.name}, test split: accuracy {scores.accuracy:.4f}", dpi=dpi)
    result = {
        "data": dataset.name,
        "n_images": int(len(dataset.y_test)),
        **scores.to_dict(names),
        "class_names": names,
        "plot": plot_path,
    }
    if as_json:
        echo_json(result)
        return
    click.echo(f"{dataset.name}: {result['n_images']} test images, accuracy {scores.accuracy:.4f}")
    width = max(len(n) for n in names)
    click.echo("per-class accuracy:")
    for name, value, n in zip(names, scores.per_class_accuracy, scores.support):
        click.echo(f"  {name:<{width}}  {value:.4f}  ({n} images)" if n else f"  {name:<{width}}  -")
    click.echo("confusion matrix (rows: true class, columns: predicted):")
    cell = max(len(str(matrix.max())), 3)
    click.echo(" " * (width + 2) + " ".join(f"{n[:cell]:>{cell}}" for n in names))
    for name, row in zip(names, matrix):
        click.echo(f"  {name:<{width}}" + " ".join(f"{v:>{cell}}" for v in row))
    if plot_path and not is_quiet():
        click.echo(f"confusion matrix written to {plot_path}")
