"""Figures (matplotlib, no display needed): the loss curve and the confusion matrix of a
model, and the helpers every figure of the package uses.

:func:`check_figure_path` checks a path before any work is done (its extension picks
the format, :data:`FIGURE_FORMATS`); :func:`pyplot` gives matplotlib on the file-only
backend; :func:`save_figure` writes a figure atomically, with the same bytes for the
same figure; :func:`smooth` is the moving average of noisy minibatch losses.
"""
import os

import numpy as np

from fastsoftmax.io import atomic

#: File extensions a figure can be written as (matplotlib's format of the same name).
FIGURE_FORMATS = ("png", "pdf", "svg")
#: Resolution of raster output (PNG; the raster parts of PDF/SVG) unless one is given.
DEFAULT_DPI = 120


def check_figure_path(path, dpi=DEFAULT_DPI):
    """The figure format of ``path`` from its extension; raises before any work is done.

    Parameters
    ----------
    path : str or path-like
        ``loss.png``, ``loss.pdf`` or ``loss.svg`` (case does not matter).
    dpi : float, default=DEFAULT_DPI
        Must be a finite number > 0 (and at most 2400, which already makes a
        7-inch-wide figure 16,800 pixels wide).

    Returns
    -------
    str
        ``"png"``, ``"pdf"`` or ``"svg"``.

    Raises
    ------
    ValueError
        An extension that is not one of :data:`FIGURE_FORMATS`, or a bad ``dpi``.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in FIGURE_FORMATS:
        shown = f"'.{ext}'" if ext else "no extension"
        raise ValueError(f"cannot write a figure as {shown} ({os.fspath(path)!r}); "
                         f"use one of {', '.join('.' + f for f in FIGURE_FORMATS)}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi <= 2400:
        raise ValueError(f"dpi must be a number in (0, 2400]; got {dpi!r}")
    return ext


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    # matplotlib is slow to import: only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi=DEFAULT_DPI):
    """Render in the extension's format to a temporary file beside ``path`` and rename:
    never a half-written figure."""
    plt = pyplot()
    try:
        fmt = check_figure_path(path, dpi)
        # No creation date in PDF/SVG either.
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else None
        # A fixed salt for SVG ids, so the same figure gives the same bytes; atomic_open
        # looked up per call, so that a stand-in (a full disk in the tests) reaches it.
        with (plt.rc_context({"svg.hashsalt": "fastsoftmax"}),
              atomic.atomic_open(path, "wb") as handle):
            fig.savefig(handle, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
    finally:
        fig.clf()
        plt.close(fig)


def smooth(values, window):
    """Moving average over ``window`` points (``valid`` part), for noisy minibatch losses."""
    values = np.asarray(values, dtype=np.float64)
    window = max(1, min(int(window), len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_loss_curve(losses, path, title="training loss", label=None, dpi=DEFAULT_DPI):
    """Minibatch loss against update, raw (light) and smoothed (dark).

    Parameters
    ----------
    losses : array-like
        One loss per update.
    path : str
        Output file; the format follows the extension (:data:`FIGURE_FORMATS`).
    title : str, default="training loss"
    label : str, optional
        Legend label of the smoothed line.
    dpi : float, default=DEFAULT_DPI
    """
    check_figure_path(path, dpi)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    losses = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8, label="minibatch loss")
    window = max(1, len(losses) // 50)
    if window > 1:
        sm = smooth(losses, window)
        # centred: a trailing average would lag the raw curve where it falls fast
        ax.plot(steps[(window - 1) // 2:][:len(sm)], sm, color="tab:blue", lw=1.8,
                label=f"centred moving average ({window} updates)" if label is None else label)
    ax.set_xlabel("update (minibatch)")
    ax.set_ylabel("loss (cross-entropy + penalty)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path, dpi)


def plot_confusion_matrix(matrix, class_names, path, title="confusion matrix", dpi=DEFAULT_DPI):
    """Row-normalized confusion matrix with counts in the cells.

    ``path``'s extension picks the format (:data:`FIGURE_FORMATS`); ``dpi`` as in
    :func:`plot_loss_curve`.
    """
    check_figure_path(path, dpi)
    plt = pyplot()
    matrix = np.asarray(matrix)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    save_figure(fig, path, dpi)


#: Okabe & Ito's colour-blind-safe palette without its yellow (too faint on white), dark
#: enough to tell apart in print.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Line styles, combined with :data:`PALETTE` so that no two curves look alike.
LINE_STYLES = ("-", "--", ":", "-.")
#: Markers that tell apart the curves of one colour and line style (more values of the
#: first parameter than colours).
MARKERS = (None, "o", "s", "^", "D", "v")


def curve_look(index_first, index_second):
    """``(color, linestyle, marker)`` of a curve: the first parameter's value picks the
    colour (then a marker, past the palette), the second's the line style."""
    color = PALETTE[index_first % len(PALETTE)]
    marker = MARKERS[(index_first // len(PALETTE)) % len(MARKERS)]
    return color, LINE_STYLES[index_second % len(LINE_STYLES)], marker


def curves_coincide(a, b, rtol=0.03):
    """Whether two ``(updates, losses)`` curves look the same on a figure: the same
    updates, and losses apart by a median of at most ``rtol`` of their size."""
    if len(a[0]) != len(b[0]) or not np.array_equal(a[0], b[0]) or not len(a[0]):
        return False
    with np.errstate(divide="ignore", invalid="ignore"):
        apart = np.abs(np.asarray(a[1]) - b[1]) / np.abs(b[1])
    return bool(np.nanmedian(apart) <= rtol) if np.isfinite(apart).any() else False
