"""``fastsoftmax show``: what a saved model learned, as a picture."""
import os

import click

from fastsoftmax.cli.building import load_pipeline
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
@dpi_option
@overwrite_option
@handle_errors
def show(model_path, out_path, dpi, force):
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
    """
    from fastsoftmax.plots.model_pictures import plot_model_weights

    if out_path is None:
        stem = os.path.splitext(os.path.basename(model_path))[0] or "model"
        out_path = f"{stem}-weights.png"
    out_file = output_file(out_path, "--out", force, dpi=dpi)
    pipe = load_pipeline(model_path)
    try:
        plot_model_weights(pipe, out_file, dpi=dpi)
    except ValueError as exc:
        raise InputError(f"{printable(model_path)}: {exc}") from None
    echo(f"figure written to {out_path}")
