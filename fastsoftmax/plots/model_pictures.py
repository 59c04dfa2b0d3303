"""What a model learned, as pictures: a HOG model's class weights as oriented-gradient
glyphs, a learned-feature model's dictionary and each class's strongest filters.

:func:`hog_cell_weights` takes a fitted :class:`~fastsoftmax.model.pipeline.ImagePipeline`
with a HOG feature step back from the classifier's inputs to HOG space (through the PCA
step and the standardization, when there are any) and sums each cell's weights over the
blocks that cover it; :func:`hog_glyph_segments` turns a cell grid into line glyphs the
way scikit-image's ``hog(..., visualize=True)`` draws a HOG: one line per orientation
bin through each cell's centre, along the edge (perpendicular to the gradient bin), its
strength the bin's weight.  :func:`draw_hog_weights` draws them (the positive and the
negative weights of each class in separate panels) and :func:`plot_hog_weights` writes
the figure.

For a learned-feature (k-means) model, the filters are the dictionary's atoms (with the
soft-threshold encoder, each atom ``d`` and its negation ``-d``, the patterns its two
polarities respond to); :func:`dictionary_order` sorts them by use (the norm of the
classifier's weights on each filter's pooled features, back in feature space, a
mirror-folded feature's weight shared between its two halves),
:func:`dictionary_tiles` gives the whitened filters as patches, contrast-stretched to
0..1, :func:`class_filters` each class's strongest filters per pooling region, and
:func:`draw_kmeans_weights` / :func:`plot_kmeans_weights` draw both;
:func:`plot_model_weights` picks the picture of a model's kind.
:func:`plot_confident_examples` shows each class's most confident right and wrong test
image with its top-3 classes.  A classifier trained on raw pixels (a bare
:class:`~fastsoftmax.SoftmaxClassifier`) has one weight per pixel: :func:`pixel_templates`
and :func:`draw_pixel_templates` show each class's weights as an image, its template.
"""
import numpy as np

from fastsoftmax.plots.figures import DEFAULT_DPI, check_figure_path, pyplot, save_figure

__all__ = ["class_filters", "confident_examples", "dictionary_order", "dictionary_tiles",
           "draw_confident_examples", "draw_hog_weights", "draw_kmeans_weights",
           "draw_pixel_templates", "hog_cell_weights", "hog_glyph_segments", "input_weights",
           "pixel_templates", "plot_confident_examples",
           "plot_hog_weights", "plot_kmeans_weights", "plot_model_weights",
           "plot_pixel_templates"]

#: The pooling quadrants of a learned-feature model, in feature order.
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
#: The regions of a 3x3 pooling grid, in feature order.
NINE_REGIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left",
                "bottom", "bottom right")


def region_names(n_regions):
    """Names of the pooling regions of an ``n_regions`` x ``n_regions`` grid, row by row."""
    if n_regions == 1:
        return ("whole image",)
    if n_regions == 2:
        return QUADRANTS
    if n_regions == 3:
        return NINE_REGIONS
    return tuple(f"row {i} col {j}" for i in range(n_regions) for j in range(n_regions))


def pooled_region_names(step):
    """Names of a fitted k-means step's pooling regions, in its features' order."""
    names = region_names(int(step.pooling)) + (("whole image",) if step.pyramid else ())
    if step.quadrants:
        names += tuple(f"{name} quadrant" for name in QUADRANTS)
    return names


#: What each feature kind is called in the refusal of a picture of another kind.
_KIND_NAMES = {"hog": "HOG: no HOG weights to draw", "kmeans": "learned (k-means) features"}


def _feature_step(pipe, kind):
    """``pipe``'s fitted feature step when it is of ``kind`` ("hog" or "kmeans")."""
    step = getattr(pipe, "features_", None)
    if step is None or getattr(step, "cache_kind", None) != kind:
        found = "unfitted" if step is None else type(step).__name__
        raise ValueError(f"the model's feature step is {found}, not {_KIND_NAMES[kind]}")
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
    step = _feature_step(pipe, "hog")
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

    step = _feature_step(pipe, "hog")
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


# ---------------------------------------------------------------------- learned features
def _region_weights(pipe):
    """Weights per class, pooling region and filter: shape (n_classes, regions, F).

    The regions (:func:`pooled_region_names`): the R x R grid's, row by row, then the
    whole image with ``pyramid``, then the four quadrants with ``quadrants``.
    The filters: the K atoms (triangle), or the K atoms then their negations (soft
    threshold).  Mirror-folded features are unfolded: a folded feature's weight ``w``
    is ``w / sqrt(2)`` on each of its two halves (base atom in region (i, j), mirror atom
    in region (i, R - 1 - j)), which gives the same scores.  The weights on a second
    layer's features, which follow the first layer's, are not drawn.
    """
    from fastsoftmax.features._mirror import unfold_weights  # here: the package imports Numba

    step = pipe.features_
    n_pol = 2 if step.encoder == "soft-threshold" else 1
    weights = input_weights(pipe)
    second = getattr(step, "second_layer_", None)
    if second is not None:
        weights = weights[:, :weights.shape[1] - second.n_features]
    levels = step.pyramid_levels()
    per_region = weights.shape[1] // sum(count for _, count in levels)
    starts = np.cumsum([0] + [count * per_region for _, count in levels])
    levels = [(side, weights[:, start:stop])
              for (side, _), start, stop in zip(levels, starts, starts[1:])]
    unfolded = []
    for side, level in levels:
        if step.mirror:
            level = unfold_weights(level, side, n_pol)
        unfolded.append(level.reshape(len(weights), side * side, -1))
    return np.concatenate(unfolded, axis=1)


def _filters(step):
    """The filters of :func:`_region_weights`: (F, D) float64."""
    atoms = np.asarray(step.cluster_centers_, dtype=np.float64)
    return np.concatenate([atoms, -atoms]) if step.encoder == "soft-threshold" else atoms


def dictionary_order(pipe):
    """Filter indices, most used first, and their use.

    The use of filter ``k`` is the norm of the classifier's weights on its pooled
    features (all classes and regions), in feature space (PCA and standardization
    undone).

    Returns
    -------
    order : ndarray of int, shape (F,)
        F = K centroids (triangle), 2K atoms and their negations (soft threshold).
    use : ndarray of float64, shape (F,)
        In filter order (``use[order]`` falls).
    """
    _feature_step(pipe, "kmeans")
    weights = _region_weights(pipe)
    use = np.sqrt(np.einsum("nqk,nqk->k", weights, weights))
    return np.argsort(-use, kind="stable"), use


def dictionary_tiles(pipe, order=None):
    """The whitened filters as patches, each contrast-stretched to 0..1.

    Parameters
    ----------
    pipe : ImagePipeline
        Fitted, with learned features.
    order : array of int, optional
        Which filters, in which order (default: all, in :func:`dictionary_order`).

    Returns
    -------
    ndarray of float64, shape (len(order), patch_size, patch_size, channels)
    """
    step = _feature_step(pipe, "kmeans")
    if order is None:
        order = dictionary_order(pipe)[0]
    size = int(step.patch_size)
    centers = _filters(step)[np.asarray(order)]
    tiles = centers.reshape(len(centers), size, size, -1)
    low = tiles.min(axis=(1, 2, 3), keepdims=True)
    span = tiles.max(axis=(1, 2, 3), keepdims=True) - low
    return (tiles - low) / np.where(span > 0, span, 1.0)


def class_filters(pipe, top=3):
    """Each class's ``top`` filters of largest positive weight per pooling region.

    Returns
    -------
    ndarray of int, shape (n_classes, R * R, top)
        Filter indices, strongest first (regions in :func:`region_names` order).
    """
    _feature_step(pipe, "kmeans")
    weights = _region_weights(pipe)
    top = min(int(top), weights.shape[2])
    return np.argsort(-weights, axis=2, kind="stable")[:, :, :top]


def _montage(tiles, columns, gap=1, fill=1.0):
    """Tiles (n, h, w, c) laid out row by row, ``gap`` pixels of ``fill`` between."""
    n, h, w, c = tiles.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, c), fill)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, col * (w + gap):col * (w + gap) + w] = tile
    return out[..., 0] if c == 1 else out


def draw_kmeans_weights(pipe, class_names=None, max_tiles=256, top=3):
    """The figure of a learned-feature model (not saved).

    Top: the dictionary, most used first (row by row; at most ``max_tiles``).  Below:
    for each class (a row), its ``top`` strongest filters in each pooling region.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes, each with one image: the dictionary montage and the class montage
        (tiles one pixel apart; light blue between gray tiles, white between colour ones).
    """
    from matplotlib.patches import Rectangle  # matplotlib: only when drawing

    order, _ = dictionary_order(pipe)
    shown = order[:max_tiles]
    tiles = dictionary_tiles(pipe, shown)
    columns = int(np.ceil(np.sqrt(len(tiles))))
    names = list(class_names if class_names is not None
                 else (pipe.class_names or [str(c) for c in pipe.classes_]))
    strongest = class_filters(pipe, top)
    n_classes, n_cells, top = strongest.shape
    step = pipe.features_
    cells = pooled_region_names(step)
    class_tiles = dictionary_tiles(pipe, strongest.reshape(-1))
    plt = pyplot()
    wide = max(1.3, n_cells * top / 9)  # the class panel widens with the regions
    fig, (ax_dict, ax_class) = plt.subplots(1, 2, figsize=(4.8 * (1 + wide),
                                                           max(4.0, 0.45 * n_classes + 1)),
                                            gridspec_kw={"width_ratios": [1, wide]})
    cmap = None
    if tiles.shape[-1] == 1:
        # the gaps between tiles (NaN) in a colour no gray tile has
        cmap = plt.get_cmap("gray").with_extremes(bad="#c6dbef")
    fill = np.nan if tiles.shape[-1] == 1 else 1.0
    ax_dict.imshow(_montage(tiles, columns, fill=fill), cmap=cmap, vmin=0, vmax=1,
                   interpolation="nearest")
    size = tiles.shape[1] + 1
    for slot in range(len(tiles), -(-len(tiles) // columns) * columns):
        # an empty slot after the last filter: blank, not a gap-coloured tile
        r, c = divmod(slot, columns)
        ax_dict.add_patch(Rectangle((c * size - 1.5, r * size - 1.5), size + 1, size + 1,
                                    facecolor="white", edgecolor="none"))
    ax_dict.set_title(f"dictionary: {len(shown)} of {len(order)} whitened filters,\n"
                      "most used first (row by row)", fontsize=10)
    ax_class.imshow(_montage(class_tiles, n_cells * top, fill=fill), cmap=cmap, vmin=0,
                    vmax=1, interpolation="nearest")
    ax_class.set_yticks(np.arange(n_classes) * size + (size - 2) / 2, names)
    ax_class.set_xticks(np.arange(n_cells) * top * size + (top * size - 2) / 2,
                        [q.replace(" ", "\n") for q in cells], fontsize=8 if n_cells > 4 else None)
    ax_class.tick_params(length=0)
    for q in range(1, n_cells):
        ax_class.axvline(q * top * size - 1, color="black", lw=1.5)
    ax_class.set_title(f"each class's {top} strongest filters per pooling region",
                       fontsize=10)
    ax_dict.set_axis_off()
    for spine in ax_class.spines.values():
        spine.set_visible(False)
    return fig


def plot_kmeans_weights(pipe, path, dpi=DEFAULT_DPI, class_names=None):
    """Write :func:`draw_kmeans_weights` of ``pipe`` to ``path`` (.png, .pdf or .svg)."""
    check_figure_path(path, dpi)
    save_figure(draw_kmeans_weights(pipe, class_names), path, dpi)


def pixel_templates(coef, image_shape):
    """Each class's weights on raw pixels as an image, stretched to 0..1 per class.

    Parameters
    ----------
    coef : array-like, shape (n_classes, n_features)
        A classifier's ``coef_``; ``n_features`` must be the pixels of ``image_shape``.
    image_shape : tuple of int
        ``(height, width)`` or ``(height, width, 3)``, the order the pixels were flattened in.

    Returns
    -------
    ndarray of float64, shape (n_classes, *image_shape)
        0 where a class's weight is lowest, 1 where highest (0.5 for a constant class).
    """
    coef = np.asarray(coef, dtype=np.float64)
    n_pixels = int(np.prod(image_shape))
    if coef.ndim != 2 or coef.shape[1] != n_pixels:
        raise ValueError(f"the classifier takes {coef.shape[-1]} features, not the {n_pixels} "
                         f"pixels of a {'x'.join(map(str, image_shape))} image")
    templates = coef.reshape((len(coef), *image_shape))
    axes = tuple(range(1, templates.ndim))
    low = templates.min(axis=axes, keepdims=True)
    span = templates.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (templates - low) / np.where(span > 0, span, 1), 0.5)


def draw_pixel_templates(classifier, image_shape, class_names=None, columns=10):
    """The figure of a raw-pixel classifier's templates (not saved): one image per class,
    bright where a pixel's value speaks for the class, dark where against it.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per class (in the order of ``classes_``), each holding one image.
    """
    templates = pixel_templates(classifier.coef_, image_shape)
    names = list(class_names) if class_names is not None else [str(c) for c in classifier.classes_]
    n = len(templates)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    plt = pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows + 0.4),
                             squeeze=False)
    for ax, template, name in zip(axes.flat, templates, names):
        ax.imshow(template, cmap=None if template.ndim == 3 else "gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(name, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.suptitle("class templates: each class's pixel weights (bright: for it, dark: against)",
                 fontsize=9)
    return fig


def plot_pixel_templates(classifier, path, image_shape, dpi=DEFAULT_DPI, class_names=None):
    """Write :func:`draw_pixel_templates` to ``path`` (.png, .pdf or .svg)."""
    check_figure_path(path, dpi)
    save_figure(draw_pixel_templates(classifier, image_shape, class_names), path, dpi)


def plot_model_weights(pipe, path, dpi=DEFAULT_DPI, class_names=None):
    """The picture of what ``pipe`` learned, for its kind of features: HOG glyphs
    (:func:`plot_hog_weights`) or the learned dictionary (:func:`plot_kmeans_weights`)."""
    kind = getattr(getattr(pipe, "features_", None), "cache_kind", None)
    if kind == "kmeans":
        return plot_kmeans_weights(pipe, path, dpi, class_names)
    return plot_hog_weights(pipe, path, dpi, class_names)


# ---------------------------------------------------------------------- test images
def confident_examples(proba, y):
    """Each class's most confident right and most confident wrong prediction.

    Parameters
    ----------
    proba : ndarray, shape (N, n_classes)
        Class probabilities of the images.
    y : ndarray of int, shape (N,)
        True class indices.

    Returns
    -------
    ndarray of int, shape (n_classes, 2)
        Per true class: the image predicted as it with the highest probability, and
        the image of it predicted as another class with the highest probability of
        that class (-1 where there is none).  Ties go to the first image.
    """
    proba = np.asarray(proba)
    y = np.asarray(y)
    predicted = np.argmax(proba, axis=1)
    confidence = proba[np.arange(len(y)), predicted]
    out = np.full((proba.shape[1], 2), -1)
    for c in range(proba.shape[1]):
        for column, chosen in enumerate(((y == c) & (predicted == c),
                                         (y == c) & (predicted != c))):
            where = np.flatnonzero(chosen)
            if len(where):
                out[c, column] = where[np.argmax(confidence[where])]
    return out


def draw_confident_examples(proba, images, y, class_names, top=3, columns=10):
    """The figure of :func:`confident_examples` (not saved): per class (a column), its
    most confident right prediction (above) and wrong one (below, in red), each titled
    with its ``top`` classes and probabilities; an empty panel says there is none.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of axes (right, wrong) per ``columns`` classes; a drawn panel holds
        the image as given.
    """
    chosen = confident_examples(proba, y)
    plt = pyplot()
    n_classes = len(chosen)
    columns = max(1, min(columns, n_classes))
    groups = -(-n_classes // columns)
    fig, axes = plt.subplots(2 * groups, columns, squeeze=False, layout="constrained",
                             figsize=(1.45 * columns + 0.6, 4.2 * groups + 0.4))
    for ax in axes.ravel():
        ax.set_axis_off()
    gray = np.asarray(images).ndim == 3
    for c in range(n_classes):
        for row, label in enumerate(("right", "wrong")):
            ax = axes[2 * (c // columns) + row, c % columns]
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            if c % columns == 0:
                ax.set_ylabel(label, fontsize=9)
            index = chosen[c, row]
            if index < 0:
                ax.text(0.5, 0.5, f"no {label}\nprediction", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8, color="0.4")
                ax.set_title(f"true {class_names[c]}", fontsize=8)
                continue
            ax.imshow(images[index], cmap="gray" if gray else None, interpolation="nearest")
            best = np.argsort(-proba[index], kind="stable")[:top]
            lines = "\n".join(f"{class_names[k]}: {proba[index, k]:.2f}" for k in best)
            ax.set_title(f"true {class_names[c]}\n{lines}", fontsize=8,
                         color="black" if row == 0 else "tab:red")
    fig.suptitle("each class's most confident right (top) and wrong (bottom, red) test image, "
                 f"with its top-{top} probabilities", fontsize=9)
    return fig


def plot_confident_examples(pipe, images, y, path, dpi=DEFAULT_DPI, class_names=None):
    """Write :func:`draw_confident_examples` of ``pipe`` on test ``images`` (true class
    indices ``y``) to ``path`` (.png, .pdf or .svg)."""
    check_figure_path(path, dpi)
    names = list(class_names if class_names is not None
                 else (pipe.class_names or [str(c) for c in pipe.classes_]))
    proba = pipe.predict_proba(images)
    save_figure(draw_confident_examples(proba, images, y, names), path, dpi)
