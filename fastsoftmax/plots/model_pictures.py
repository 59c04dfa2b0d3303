"""What a model learned, as pictures: a HOG model's class weights as oriented-gradient glyphs.

:func:`hog_cell_weights` takes a fitted :class:`~fastsoftmax.model.pipeline.ImagePipeline`
with a HOG feature step back from the classifier's inputs to HOG space (through the PCA
step and the standardization, when there are any) and sums each cell's weights over the
blocks that cover it; :func:`hog_glyph_segments` turns a cell grid into line glyphs the
way scikit-image's ``hog(..., visualize=True)`` draws a HOG: one line per orientation
bin through each cell's centre, along the edge (perpendicular to the gradient bin), its
strength the bin's weight.  :func:`draw_hog_weights` draws them (the positive and the
negative weights of each class in separate panels) and :func:`plot_hog_weights` writes
the figure.
"""
import numpy as np

from fastsoftmax.plots.figures import DEFAULT_DPI, check_figure_path, pyplot, save_figure

__all__ = ["draw_hog_weights", "hog_cell_weights", "hog_glyph_segments", "input_weights",
           "plot_hog_weights"]


def _hog_step(pipe):
    step = getattr(pipe, "features_", None)
    if step is None or getattr(step, "cache_kind", None) != "hog":
        kind = "unfitted" if step is None else type(step).__name__
        raise ValueError(f"the model's feature step is {kind}, not HOG: no HOG weights to draw")
    return step


def input_weights(pipe):
    """The classifier's weights on the feature step's output (before scaling and PCA).

    A class's score is ``coef @ pca(scale(x))`` plus a constant; as a linear function of
    the features ``x`` its weights are ``(coef @ components_) / scale_``.

    Returns
    -------
    ndarray of float64, shape (n_classes, n_image_features)
    """
    weights = np.asarray(pipe.classifier_.coef_, dtype=np.float64)
    if getattr(pipe, "pca_", None) is not None:
        weights = weights @ np.asarray(pipe.pca_.components_, dtype=np.float64)
    scaler = getattr(pipe, "scaler_", None)
    if scaler is not None:
        weights = weights / np.asarray(scaler.scale_, dtype=np.float64)
    return weights


def hog_cell_weights(pipe):
    """Each class's weights per HOG cell and orientation bin.

    The HOG vector, in scikit-image's order (blocks_row, blocks_col, cells_row,
    cells_col, orientations), is summed per cell over the blocks that cover it.

    Parameters
    ----------
    pipe : ImagePipeline
        Fitted, with a HOG feature step.

    Returns
    -------
    ndarray of float64, shape (n_classes, n_cells_row, n_cells_col, orientations)
    """
    step = _hog_step(pipe)
    rows, cols = pipe.image_shape_[:2]
    c_row, c_col = (int(v) for v in step.pixels_per_cell)
    b_row, b_col = (int(v) for v in step.cells_per_block)
    n_orient = int(step.orientations)
    cells_r, cells_c = rows // c_row, cols // c_col
    blocks_r, blocks_c = cells_r - b_row + 1, cells_c - b_col + 1
    weights = input_weights(pipe)
    blocks = weights.reshape(len(weights), blocks_r, blocks_c, b_row, b_col, n_orient)
    cells = np.zeros((len(weights), cells_r, cells_c, n_orient))
    for i in range(b_row):
        for j in range(b_col):
            cells[:, i:i + blocks_r, j:j + blocks_c] += blocks[:, :, :, i, j]
    return cells


def hog_glyph_segments(cells, pixels_per_cell):
    """Line glyphs of a cell grid, as scikit-image's HOG visualisation draws them.

    Parameters
    ----------
    cells : ndarray, shape (n_cells_row, n_cells_col, orientations)
        Non-negative strengths.
    pixels_per_cell : (int, int)

    Returns
    -------
    segments : ndarray, shape (n_cells_row * n_cells_col * orientations, 2, 2)
        ``(x, y)`` end points in pixel coordinates (x to the right, y down), each line
        through its cell's centre, perpendicular to the bin's gradient direction.
    strengths : ndarray, shape (len(segments),)
        ``cells`` in the same order.
    """
    cells = np.asarray(cells, dtype=np.float64)
    c_row, c_col = pixels_per_cell
    n_orient = cells.shape[2]
    # a little under half a cell, so neighbouring glyphs do not touch
    radius = 0.45 * min(c_row, c_col)
    mid = np.pi * (np.arange(n_orient) + 0.5) / n_orient
    dr, dc = radius * np.sin(mid), radius * np.cos(mid)
    r = np.arange(cells.shape[0])[:, None, None] * c_row + c_row / 2 - 0.5
    c = np.arange(cells.shape[1])[None, :, None] * c_col + c_col / 2 - 0.5
    shape = cells.shape
    # scikit-image: from (r - dc, c + dr) to (r + dc, c - dr)
    start = np.stack([np.broadcast_to(c + dr, shape), np.broadcast_to(r - dc, shape)], -1)
    end = np.stack([np.broadcast_to(c - dr, shape), np.broadcast_to(r + dc, shape)], -1)
    segments = np.stack([start, end], axis=-2).reshape(-1, 2, 2)
    return segments, cells.reshape(-1)


def draw_hog_weights(pipe, class_names=None, columns=10):
    """The figure of a HOG model's weights (not saved): two panels per class.

    For each class, the positive weights (what speaks for the class) and the negative
    weights (what speaks against it) as white glyphs on black, one line per cell and
    orientation bin, its opacity the weight over the largest of the whole figure.

    Returns
    -------
    matplotlib.figure.Figure
        Its axes come in pairs (positive, negative) per class; each holds one
        ``LineCollection``.
    """
    from matplotlib.collections import LineCollection  # matplotlib: only when drawing

    step = _hog_step(pipe)
    cells = hog_cell_weights(pipe)
    names = list(class_names if class_names is not None
                 else (pipe.class_names or [str(c) for c in pipe.classes_]))
    rows, cols = pipe.image_shape_[:2]
    scale = float(np.abs(cells).max()) or 1.0
    n_classes = len(cells)
    columns = max(1, min(columns, n_classes))
    grid_rows = -(-n_classes // columns)
    plt = pyplot()
    side = 1.5
    fig, axes = plt.subplots(2 * grid_rows, columns, squeeze=False,
                             figsize=(side * columns, side * 2 * grid_rows * rows / cols + 0.6))
    for ax in axes.ravel():
        ax.set_axis_off()
    ppc = tuple(int(v) for v in step.pixels_per_cell)
    for k in range(n_classes):
        for sign, label in ((1, "+"), (-1, "\u2212")):
            ax = axes[2 * (k // columns) + (sign < 0), k % columns]
            segments, strengths = hog_glyph_segments(np.maximum(sign * cells[k], 0), ppc)
            colors = np.ones((len(strengths), 4))
            colors[:, 3] = np.clip(strengths / scale, 0, 1)
            ax.add_collection(LineCollection(segments, colors=colors, linewidths=1.2,
                                             capstyle="round"))
            ax.set_facecolor("black")
            ax.set_xlim(-0.5, cols - 0.5)
            ax.set_ylim(rows - 0.5, -0.5)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_axis_on()
            ax.set_title(f"{names[k]} {label}", fontsize=9)
    fig.suptitle("HOG weights per class (+: for the class, \u2212: against it; "
                 "line = edge direction, opacity = weight)", fontsize=10)
    return fig


def plot_hog_weights(pipe, path, dpi=DEFAULT_DPI, class_names=None):
    """Write :func:`draw_hog_weights` of ``pipe`` to ``path`` (.png, .pdf or .svg)."""
    check_figure_path(path, dpi)
    save_figure(draw_hog_weights(pipe, class_names), path, dpi)
