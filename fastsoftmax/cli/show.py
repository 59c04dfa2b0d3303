"""``fastsoftmax show``: what a saved model learned, as a picture."""
import os

import click

from fastsoftmax.cli.dataset_options import data_option
from fastsoftmax.cli.folders import image_size_option
from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.options import dpi_option, overwrite_option
from fastsoftmax.cli.output import echo, printable
from fastsoftmax.cli.paths import output_file


@click.command()
@click.option("-m", "--model", "model_path", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="A model file written by `fastsoftmax train --model`.")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False, path_type=str),
              help="The figure (.png, .pdf or .svg); default: MODEL-weights.png in the "
                   "current folder.")
@data_option
@click.option("--examples", is_flag=True,
              help="Also draw the most confident right and wrong test image per class "
                   "(implied by --data; without --data, of the digits).")
@image_size_option
@dpi_option
@overwrite_option
@handle_errors
def show(model_path, out_path, data, examples, image_size, dpi, force):
    """Draw what a saved model learned.

    A HOG model: the classifier's weights are taken back through PCA (and the
    standardization) to HOG space and summed per cell over the blocks covering it;
    each cell shows one line per orientation bin along the edge direction it
    responds to, as scikit-image draws a HOG, opaque where the weight is large.
    Each class has two panels: its positive weights (edges that speak for it) and
    its negative ones.

    A learned-feature model (--features kmeans): the dictionary of whitened filters,
    each contrast-stretched, most used first (by the norm of the classifier's
    weights on it), and each class's three strongest filters per pooling quadrant.

    A bare classifier trained on raw pixels (saved with SoftmaxClassifier.save), with
    --image-size WxH (a model file does not say what its inputs were): each class's
    weights as an image, its template (CS231n's picture); grayscale, or RGB when the
    weights are three times the pixels.

    With --data or --examples, a second figure beside the first (its name with
    -examples before the extension): each class's most confident right and wrong
    test image, with its top-3 classes and probabilities.
    """
    from fastsoftmax.plots.model_pictures import plot_model_weights

    if out_path is None:
        stem = os.path.splitext(os.path.basename(model_path))[0] or "model"
        out_path = f"{stem}-weights.png"
    out_file = output_file(out_path, "--out", force, dpi=dpi)
    examples_path = examples_file = None
    examples = examples or data is not None
    if examples:
        stem, ext = os.path.splitext(out_path)
        examples_path = f"{stem}-examples{ext}"
        examples_file = output_file(examples_path, "--out", force, dpi=dpi)
    from fastsoftmax.model.loading import load_model
    from fastsoftmax.model.pipeline import ImagePipeline

    model = load_model(model_path)
    if not isinstance(model, ImagePipeline):
        if examples:
            raise InputError("--data and --examples need an image pipeline (`fastsoftmax train "
                             f"--model`); {printable(model_path)} holds a bare "
                             f"{type(model).__name__}")
        _show_templates(model, model_path, out_file, out_path, image_size, dpi)
        return
    pipe = model
    # the test images first: a bad --data writes no figure
    test_set = _test_set(pipe, data) if examples else None
    try:
        plot_model_weights(pipe, out_file, dpi=dpi)
    except ValueError as exc:
        raise InputError(f"{printable(model_path)}: {exc}") from None
    echo(f"figure written to {out_path}")
    if test_set is not None:
        from fastsoftmax.plots.model_pictures import plot_confident_examples

        plot_confident_examples(pipe, test_set.X_test, test_set.y_test, examples_file,
                                dpi=dpi, class_names=_names(pipe))
        echo(f"figure written to {examples_path}")


def _show_templates(classifier, model_path, out_file, out_path, image_size, dpi):
    """A bare classifier's pixel templates, for the image size the user gives."""
    from fastsoftmax.plots.model_pictures import plot_pixel_templates

    if image_size is None:
        raise InputError(f"{printable(model_path)} holds a bare {type(classifier).__name__}, not "
                         "an image pipeline; give --image-size WxH to draw its weights as "
                         "images if it was trained on pixels, or save a pipeline with "
                         "`fastsoftmax train --model PATH`")
    shape = tuple(image_size)
    if classifier.coef_.shape[1] == 3 * shape[0] * shape[1]:
        shape = (*shape, 3)
    try:
        plot_pixel_templates(classifier, out_file, shape, dpi=dpi)
    except ValueError as exc:
        raise InputError(f"{printable(model_path)}: {exc}") from None
    echo(f"figure written to {out_path}")


def _names(pipe):
    return list(pipe.class_names or [str(c) for c in pipe.classes_])


def _test_set(pipe, data):
    """The test split of --data (default: the digits), checked against the model."""
    from fastsoftmax.data import load_test_set

    names = _names(pipe)
    dataset = load_test_set(data, names, training_files=pipe.training_files_)
    if tuple(dataset.image_shape[:2]) != tuple(pipe.image_shape_[:2]):
        height, width = pipe.image_shape_[:2]
        raise InputError(f"the data's images are {'x'.join(map(str, dataset.image_shape[:2]))}"
                         f" but the model was trained on {height}x{width} (height x width)")
    return dataset
