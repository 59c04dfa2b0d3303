"""``fastsoftmax evaluate``: a saved pipeline on a data set's test split."""
import click

from .options import (InputError, check_output_path, data_option, echo_json, handle_errors,
                      is_quiet, json_option, load_data, load_pipeline)


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="A model file written by `fastsoftmax train --model`.")
@data_option
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str),
              help="Write the confusion matrix as a PNG here.")
@json_option
@handle_errors
def evaluate(model_path, data, plot_path, as_json):
    """Accuracy, per-class accuracy and confusion matrix of a saved model.

    Runs the model on the test split of --data (default: the built-in digits). The
    data's images must have the size and class count the model was trained on.
    """
    from ..evaluation import evaluate_predictions

    check_output_path(plot_path, "--plot")
    pipe = load_pipeline(model_path)
    dataset = load_data(data, quiet=True)
    names = list(pipe.class_names or [str(c) for c in pipe.classes_])
    if dataset.n_classes != len(names):
        raise InputError(f"the data has {dataset.n_classes} classes but the model knows {len(names)}")
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
                              title=f"{dataset.name}: accuracy {scores.accuracy:.4f}")
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
