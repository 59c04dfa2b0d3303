"""The parameter axis of the sweep figures: a log scale where the values span decades,
tick labels at the tried values where they fit, else at a locator's round values.

Numeric values are placed at their values, categorical ones (``penalty=l1,l2``) at
evenly spaced positions.
"""
import math

import numpy as np

#: Parameters always drawn on a log axis (when every value is > 0).
LOG_PARAMS = ("learning_rate", "alpha")
#: More tried values than this are never each labelled: a 7-inch axis cannot hold their
#: labels side by side, and drawing thousands of labels only to find them overlapping
#: takes seconds each time.
MAX_LABELLED_VALUES = 40


def is_numeric(values):
    """Whether every value is a number (booleans are not)."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def use_log_scale(param, values):
    """Log axis for learning rates and penalty strengths, and for numeric values spanning 20x+."""
    if not is_numeric(values) or any(v is None or v <= 0 for v in values):
        return False
    return param in LOG_PARAMS or max(values) / min(values) >= 20


def format_value(value):
    """Short label of a parameter value: ``0.001``, ``1e-05``, ``500``, ``l2``."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def positions(param, values):
    """x positions of the values: the values themselves (numeric) or 0..n-1 (categories)."""
    if is_numeric(values):
        return np.asarray(values, dtype=np.float64), False
    return np.arange(len(values), dtype=np.float64), True


def tick_labels_overlap(ax, axis="x", pad=2.0):
    """Whether any two visible tick labels of ``ax``'s ``axis`` overlap (``pad`` pixels apart)."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
    boxes.sort(key=lambda b: b.x0 if axis == "x" else b.y0)
    for left, right in zip(boxes, boxes[1:]):
        if axis == "x" and left.x1 + pad > right.x0:
            return True
        if axis == "y" and left.y1 + pad > right.y0:
            return True
    return False


def style_parameter_axis(ax, param, values, categorical):
    """Ticks at the tried values when their labels fit; else a locator's round values."""
    from matplotlib import ticker  # heavy: imported only when a figure is drawn

    ax.set_xlabel(param)
    if categorical:
        # every category labelled, or every k-th of a crowd of them
        step = -(-len(values) // MAX_LABELLED_VALUES)
        ticks = range(0, len(values), step)
        ax.set_xticks(ticks, [format_value(values[i]) for i in ticks])
        ax.set_xlim(-0.5, len(values) - 0.5)
        if tick_labels_overlap(ax):
            ax.tick_params(axis="x", labelrotation=30)
        return
    numbers = sorted(set(values))
    log = use_log_scale(param, values)
    if log:
        ax.set_xscale("log")
    if len(numbers) <= MAX_LABELLED_VALUES:
        ax.set_xticks(numbers, [format_value(v) for v in numbers])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        if not tick_labels_overlap(ax):
            return
    # The tried values are crowded (e.g. 0.001 and 0.0024): label round values instead;
    # the markers on the curves still show which values were tried.
    if log:
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10))
        ax.xaxis.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(2, 10)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins="auto", integer=_integers(values)))
        ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.set_xlim(*_padded_limits(numbers, log))
    if tick_labels_overlap(ax):
        ax.tick_params(axis="x", labelrotation=30)


def _integers(values):
    return all(isinstance(v, int) for v in values)


def _padded_limits(numbers, log):
    low, high = min(numbers), max(numbers)
    if log:
        pad = (math.log10(high) - math.log10(low)) * 0.05 or 0.1
        return low / 10 ** pad, high * 10 ** pad
    pad = (high - low) * 0.05 or max(abs(high) * 0.1, 1)
    return low - pad, high + pad
