"""Figures of a sweep folder: loss curves, a metric against a parameter, heatmaps.

Numeric parameters are drawn as lines over a numeric (log, when the values span
decades) axis; categorical ones (``penalty=l1,l2``) as markers at evenly spaced
positions, never joined by a line.  Error bars are the sample standard deviation
(:func:`~fastsoftmax.experiments.stats.sample_sd`), and titles say what they are a
spread over (:func:`~fastsoftmax.experiments.stats.spread_label`).
"""
import math
import os

import numpy as np

from fastsoftmax.experiments.axes import (format_value, is_numeric, positions,
                                          style_parameter_axis, tick_labels_overlap)
from fastsoftmax.experiments.results import load_results
from fastsoftmax.experiments.stats import seeds_vary, spread_label, summarize
from fastsoftmax.plots.figures import (DEFAULT_DPI, check_figure_path, curve_look,
                                       curves_coincide, pyplot, save_figure, smooth)

#: Parameters that set how long a run is: their loss curves share a prefix.
LENGTH_PARAMS = ("n_iter", "epochs")
#: At most this many configurations of a one-parameter sweep get a panel each.
MAX_PANELS = 12

METRIC_LABELS = {
    "train_accuracy": "training accuracy",
    "val_accuracy": "validation accuracy",
    "test_accuracy": "test accuracy",
    "final_loss": "final loss (mean of the last 5% of updates)",
    "zero_fraction": "fraction of exactly-zero weights",
    "seconds": "fit time (s)",
}


def _spread_title(text, spread):
    return text + (f"\n({spread})" if spread else "")


def plot_metric(summary, param, path, metric="val_accuracy", series=None, title=None,
                extra_metrics=(), spread=None, dpi=DEFAULT_DPI):
    """A metric (mean ± sample standard deviation) against one parameter's values.

    Numeric values are joined by lines, in increasing order; categorical values are
    markers only (several lines at one category are set slightly apart).  A point
    from a single run has no error bar.

    Parameters
    ----------
    summary : list of dict
        From :func:`fastsoftmax.experiments.stats.summarize` over ``param`` (and ``series``).
    param : str
        The x-axis parameter.
    path : str
        Output file; the format follows the extension (png, pdf, svg).
    metric : str, default="val_accuracy"
    series : str, optional
        A second parameter: one line per value.
    title : str, optional
    extra_metrics : tuple of str
        More metrics drawn as their own lines (one-parameter plots only).
    spread : str, optional
        What the error bars are a spread over, added under the title
        (:func:`~fastsoftmax.experiments.stats.spread_label`); default: the runs
        per point.
    dpi : float, default=DEFAULT_DPI
    """
    check_figure_path(path, dpi)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    keys = list(dict.fromkeys(_key(e[param]) for e in summary))
    values = [_unkey(k) for k in keys]
    x_all, categorical = positions(param, values)
    position = {k: i for i, k in enumerate(keys)}
    groups = [(None, summary)] if series is None else [
        (s, [e for e in summary if _key(e[series]) == s])
        for s in dict.fromkeys(_key(e[series]) for e in summary)]
    metrics = [metric] if series is not None else [metric, *extra_metrics]
    colors = plt.get_cmap("tab10")
    n_lines = len(groups) * len(metrics)
    diverged_x = []
    line = 0
    for label, entries in groups:
        for m in metrics:
            points = []
            for entry in entries:
                xi = x_all[position[_key(entry[param])]]
                if entry["diverged"] == entry["runs"]:
                    diverged_x.append(xi)
                    continue
                points.append((xi, entry[f"{m}_mean"], entry[f"{m}_std"]))
            name = (f"{series}={format_value(_unkey(label))}" if series is not None
                    else METRIC_LABELS.get(m, m))
            # a series: the loss curves' colour-blind-safe colours and line styles
            color, style, _ = (curve_look(line, line) if series is not None
                               else (colors(line), "-", None))
            if points:
                x, mean, std = (np.array(c, dtype=np.float64) for c in zip(*sorted(points)))
                if categorical and n_lines > 1:  # side by side, not on top of each other
                    x = x + 0.5 * (line / (n_lines - 1) - 0.5) * min(1.0, 0.3 * n_lines)
                ax.plot(x, mean, marker="o", ms=5, lw=1.5, color=color, label=name,
                        ls="none" if categorical else style)
                bars = np.isfinite(std)
                if bars.any():
                    ax.errorbar(x[bars], mean[bars], yerr=std[bars], ls="none", capsize=3,
                                lw=1.2, color=color)
            line += 1
    if diverged_x:
        low = ax.get_ylim()[0]
        ax.scatter(sorted(set(diverged_x)), [low] * len(set(diverged_x)), marker="x", s=60,
                   color="tab:red", zorder=5, clip_on=False, label="diverged (all seeds)")
    style_parameter_axis(ax, param, values, categorical)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric) if series is not None or not extra_metrics
                  else "accuracy")
    if spread is None:
        runs = max((e["runs"] for e in summary), default=1)
        spread = f"mean ± sd over {runs} runs" if runs > 1 else ""
    ax.set_title(_spread_title(title or f"{METRIC_LABELS.get(metric, metric)} against {param}",
                               spread))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    save_figure(fig, path, dpi)


def _config_curves(rows, curves, names):
    """Configuration key -> (members, raw curve of its first trained run, mean curve over seeds)."""
    configs = {}
    for row in rows:
        configs.setdefault(tuple(_key(row[n]) for n in names), []).append(row)
    out = {}
    for key, members in configs.items():
        ok = [curves[m["run"]] for m in members if not m["diverged"] and m["run"] in curves
              and len(curves[m["run"]][1])]
        if not ok:
            out[key] = (members, None, None, 0)
            continue
        updates = np.asarray(ok[0][0])
        same = [c[1] for c in ok if len(c[0]) == len(updates) and np.array_equal(c[0], updates)]
        out[key] = (members, (updates, np.asarray(ok[0][1])), (updates, np.mean(same, axis=0)),
                    len(same))
    return out


def _log_y(ax):
    """Log y axis labelled ``0.5``, ``1``, ``2`` instead of ``5x10^-1``."""
    from matplotlib import ticker  # heavy: imported only when a figure is drawn

    ax.set_yscale("log")
    plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(
        lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 3, 5) else ""))
    if tick_labels_overlap(ax, "y"):
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _smoothed(updates, losses):
    """Centred moving average over ~2% of the curve: ``(updates, losses, window)``."""
    window = max(1, len(losses) // 50)
    if window > 1:
        smoothed = smooth(losses, window)
        return updates[(window - 1) // 2:][:len(smoothed)], smoothed, window
    return updates, losses, 1


def _raw_label(updates):
    """What the faint curve is: single minibatches, or windows averaged when stored downsampled."""
    step = int(updates[1] - updates[0]) if len(updates) > 1 else 1
    return "one run, each update" if step <= 1 else f"one run, means of ~{step} updates"


#: At most this many configurations share one axes with their raw runs drawn.
MAX_RAW_LINES = 4


def draws_raw_curves(names, n_configs):
    """Whether :func:`plot_loss_curves` draws a raw run under each smoothed mean."""
    single = len(names) == 1 and (names[0] in LENGTH_PARAMS or 1 < n_configs <= MAX_PANELS)
    return single or n_configs <= MAX_RAW_LINES


def plot_loss_curves(rows, curves, names, path, title=None, max_lines=16, dpi=DEFAULT_DPI):
    """Minibatch loss against update per configuration: raw (faint) under smoothed.

    The faint curve is one run (the first seed) as recorded, so its noise is the
    minibatch noise; the dark one is the mean over seeds, smoothed by a moving
    average.  Layout by what was swept:

    - one parameter with at most :data:`MAX_PANELS` values (not a run length): one
      panel per value, shared axes, so each curve's noise can be seen;
    - a run length (``n_iter``, ``epochs``): one axes, longest run first, each run's
      end marked and labelled (shorter runs follow the longer ones' path);
    - otherwise one axes, colour (:data:`~fastsoftmax.plots.figures.PALETTE`, colour-blind safe) by the first
      parameter and line style by the second
      (:func:`~fastsoftmax.plots.figures.curve_look`); raw curves drawn
      only for up to :data:`MAX_RAW_LINES` configurations (:func:`draws_raw_curves`).

    Parameters
    ----------
    rows : list of dict
        Sweep rows (with ``run``, ``diverged`` and the ``names`` values).
    curves : dict
        Run number -> ``(updates, losses)``.
    names : list of str
        Swept parameters that label the curves.
    path : str
        Output file; the format follows the extension (png, pdf, svg).
    title : str, optional
    max_lines : int, default=16
        At most this many configurations are drawn on one axes (evenly chosen).
    dpi : float, default=DEFAULT_DPI
    """
    check_figure_path(path, dpi)
    data = _config_curves(rows, curves, names)
    keys = list(data)
    title = title or "training loss per configuration"
    if len(names) == 1 and names[0] in LENGTH_PARAMS and is_numeric([_unkey(k[0]) for k in keys]):
        return _plot_length_curves(data, names[0], path, title, dpi)
    if len(names) == 1 and 1 < len(keys) <= MAX_PANELS:
        return _plot_curve_panels(data, names[0], path, title, dpi)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    if len(keys) > max_lines:
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, max_lines).round().astype(int)]
    firsts = list(dict.fromkeys(k[0] for k in keys))
    seconds = list(dict.fromkeys(k[1] for k in keys)) if len(names) > 1 else [None]
    raw = len(keys) <= MAX_RAW_LINES
    lows, highs, drawn = [], [], []
    for key in keys:
        members, first, mean, n_same = data[key]
        label = ", ".join(f"{n}={format_value(_unkey(v))}" for n, v in zip(names, key))
        color, style, marker = curve_look(firsts.index(key[0]),
                                          seconds.index(key[1]) if len(names) > 1 else 0)
        if mean is None:
            ax.plot([], [], color="tab:red", ls="none", marker="x", label=f"{label} (diverged)")
            continue
        if raw:
            ax.plot(*first, color=color, lw=0.6, alpha=0.25)
        updates, losses, _ = _smoothed(*mean)
        label += f" ({n_same} seeds)" if n_same > 1 else ""
        under = next((d for d in drawn if d[1].get_color() == color
                      and curves_coincide(d[2], (updates, losses))), None)
        if under is not None:
            # a curve drawn exactly over an earlier one of its colour would hide it: the
            # earlier one becomes a wide pale band, this one a thin line on top
            under[1].set_linewidth(4.5)
            under[1].set_alpha(0.4)
            label += f" (coincides with the {under[0]} band)"
        (line,) = ax.plot(updates, losses, color=color, lw=1.5, ls=style, marker=marker,
                          markersize=4, markevery=max(1, len(updates) // 8), label=label,
                          zorder=3 + len(drawn))
        drawn.append((f"{names[-1]}={format_value(_unkey(key[-1]))}", line, (updates, losses)))
        finite = (first[1] if raw else losses)
        finite = finite[np.isfinite(finite)]
        if len(finite):
            lows.append(finite.min())
            highs.append(finite.max())
    if lows and min(lows) > 0 and max(highs) / min(lows) > 5:
        _log_y(ax)
    ax.set_xlabel("update (minibatch)")
    ax.set_ylabel("training minibatch loss" + (" (faint: one run, raw)" if raw else " (smoothed)"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    save_figure(fig, path, dpi)


def panel_grid(n, max_cols=4):
    """``(rows, cols)`` for ``n`` panels: the fewest empty panels, then the squarest,
    then the widest (4 -> 2x2, 5 -> 2x3, 6 -> 2x3, 7 -> 2x4)."""
    if n <= 1:
        return 1, 1
    options = [(math.ceil(n / c), c) for c in range(2, min(max_cols, n) + 1)]
    return min(options, key=lambda rc: (rc[0] * rc[1] - n, abs(rc[0] - rc[1]), -rc[1]))


def _plot_curve_panels(data, name, path, title, dpi):
    """One panel per value of ``name``: the raw run faint, the smoothed seed mean dark."""
    plt = pyplot()
    keys = list(data)
    if is_numeric([_unkey(k[0]) for k in keys]):
        keys.sort(key=lambda k: _unkey(k[0]))
    rows_, cols = panel_grid(len(keys))
    fig, axes = plt.subplots(rows_, cols, figsize=(3.0 * cols + 0.6, 2.3 * rows_ + 0.8),
                             sharex=True, sharey=True, squeeze=False)
    lows, highs, legend = [], [], None
    for ax, key in zip(axes.flat, keys):
        members, first, mean, n_same = data[key]
        ax.set_title(f"{name}={format_value(_unkey(key[0]))}", fontsize=9)
        ax.grid(alpha=0.3)
        if mean is None:
            ax.text(0.5, 0.5, "diverged", transform=ax.transAxes, ha="center", va="center",
                    color="tab:red")
            continue
        ax.plot(*first, color="tab:blue", lw=0.6, alpha=0.35, label=_raw_label(first[0]))
        updates, losses, window = _smoothed(*mean)
        ax.plot(updates, losses, color="tab:blue", lw=1.6,
                label=(f"mean of {n_same} seeds, " if n_same > 1 else "")
                + (f"centred moving average of {window}" if window > 1 else "as recorded"))
        finite = first[1][np.isfinite(first[1])]
        if len(finite):
            lows.append(finite.min())
            highs.append(finite.max())
        legend = legend or ax
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    if lows and min(lows) > 0 and max(highs) / min(lows) > 5:
        _log_y(axes.flat[0])
    for ax in axes[:, 0]:
        ax.set_ylabel("minibatch loss")
    for j in range(cols):  # the lowest panel of each column: shared x, its own labels
        ax = axes[(len(keys) - 1 - j) // cols, j]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("update")
    fig.suptitle(title)
    if legend is not None:
        handles, labels = legend.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, path, dpi)


def _plot_length_curves(data, name, path, title, dpi):
    """Runs of different lengths on one axes: longest first, each run's end marked."""
    from matplotlib import ticker  # heavy: imported only when a figure is drawn

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    keys = sorted(data, key=lambda k: _unkey(k[0]), reverse=True)
    cmap = plt.get_cmap("viridis")
    lengths = [_unkey(k[0]) for k in keys]
    ends, lows, highs = [], [], []
    # One centred window for every run, so curves that share a prefix coincide on screen.
    trained = [len(data[k][2][1]) for k in keys if data[k][2] is not None]
    window = max(1, min(trained, default=1) // 20)
    for i, key in enumerate(keys):
        members, first, mean, n_same = data[key]
        color = cmap(0.9 * i / max(1, len(keys) - 1))
        label = f"{name}={format_value(_unkey(key[0]))}"
        if mean is None:
            ax.plot([], [], color="tab:red", ls="none", marker="x", label=f"{label} (diverged)")
            continue
        if i == 0:
            ax.plot(*first, color="0.6", lw=0.6, alpha=0.5, zorder=1,
                    label=f"longest, {_raw_label(first[0])}")
        updates, losses = mean
        if window > 1:
            losses = smooth(losses, window)
            updates = updates[(window - 1) // 2:][:len(losses)]
        ax.plot(updates, losses, color=color, lw=2.2 - 1.2 * i / max(1, len(keys) - 1),
                zorder=2 + i, label=label + (f" ({n_same} seeds)" if n_same > 1 else ""))
        ends.append((updates[-1], losses[-1], color))
        finite = losses[np.isfinite(losses)]
        if len(finite):
            lows.append(finite.min())
            highs.append(finite.max())
    for x, y, color in ends:
        ax.plot([x], [y], marker="o", ms=7, mec="black", mew=0.8, color=color, zorder=50)
    if lows and min(lows) > 0 and max(highs) / min(lows) > 5:
        _log_y(ax)
    if len(lengths) > 1 and min(lengths) > 0 and max(lengths) / min(lengths) >= 20:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("update (minibatch)" + (", log scale" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("training minibatch loss"
                  + (f" (centred mean of {window})" if window > 1 else ""))
    ax.set_title(title + "\n(curves coincide where runs share their updates; "
                 "a dot marks where each run ends)",
                 fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    save_figure(fig, path, dpi)


#: Narrowest colour scale of a heatmap of a share (accuracy, zero weights): 10 points, so
#: that a gap of one point looks like one point and not like the whole scale.
MIN_SHARE_SPAN = 0.10


def heatmap_scale(values, metric):
    """``(vmin, vmax)`` of a heatmap's colour scale over the finite ``values``.

    A share (``*accuracy``, ``zero_fraction``) gets a scale of at least
    :data:`MIN_SHARE_SPAN` centred on the data, kept inside 0..1; other metrics span
    their data.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    if not (metric.endswith("accuracy") or metric.endswith("fraction")):
        return (low, high) if high > low else (low - 0.5, high + 0.5)
    pad = max(0.0, MIN_SHARE_SPAN - (high - low)) / 2
    low, high = low - pad, high + pad
    shift = max(0.0, -low) - max(0.0, high - 1.0)
    return max(0.0, low + shift), min(1.0, high + shift)


def plot_heatmap(summary, row_param, col_param, path, metric="val_accuracy", title=None,
                 dpi=DEFAULT_DPI, varies=None):
    """Mean ``metric`` over a two-parameter grid (± sample sd), the values printed in the
    cells, on the colour scale of :func:`heatmap_scale`; diverged cells are marked.
    ``varies``: what the seeds change (:func:`~fastsoftmax.experiments.stats.seeds_vary`),
    said in the title."""
    check_figure_path(path, dpi)
    plt = pyplot()
    rows = [_unkey(v) for v in dict.fromkeys(_key(e[row_param]) for e in summary)]
    cols = [_unkey(v) for v in dict.fromkeys(_key(e[col_param]) for e in summary)]
    grid = np.full((len(rows), len(cols)), np.nan)
    std = np.full_like(grid, np.nan)
    div = np.zeros(grid.shape, dtype=bool)
    for e in summary:
        i, j = rows.index(e[row_param]), cols.index(e[col_param])
        grid[i, j] = e[f"{metric}_mean"]
        std[i, j] = e[f"{metric}_std"]
        div[i, j] = e["diverged"] == e["runs"]
    fig, ax = plt.subplots(figsize=(1.8 + 1.1 * len(cols), 1.4 + 0.6 * len(rows)))
    masked = np.ma.masked_invalid(grid)
    vmin, vmax = heatmap_scale(grid, metric)
    image = ax.imshow(masked, cmap="viridis", aspect="auto", vmin=vmin, vmax=vmax)
    ax.set_facecolor("#dddddd")
    ax.set_xticks(range(len(cols)), [format_value(v) for v in cols])
    ax.set_yticks(range(len(rows)), [format_value(v) for v in rows])
    ax.set_xlabel(col_param)
    ax.set_ylabel(row_param)
    middle = (vmin + vmax) / 2
    for i in range(len(rows)):
        for j in range(len(cols)):
            if div[i, j]:
                text, color = "diverged", "tab:red"
            elif np.isfinite(grid[i, j]):
                text = f"{grid[i, j]:.3f}" + (f"\n±{std[i, j]:.3f}" if np.isfinite(std[i, j]) else "")
                color = "white" if grid[i, j] < middle else "black"
            else:
                text, color = "", "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    if tick_labels_overlap(ax):
        ax.tick_params(axis="x", labelrotation=30)
    fig.colorbar(image, ax=ax, label=METRIC_LABELS.get(metric, metric))
    runs = max((e["runs"] for e in summary), default=1)
    ax.set_title(title or f"{METRIC_LABELS.get(metric, metric)}: {row_param} × {col_param}"
                 + (_spread_title("", "mean ± sd over seeds" + (f";\n{varies}" if varies else ""))
                    if runs > 1 else ""), fontsize=10)
    save_figure(fig, path, dpi)


def make_plots(folder, names=None, dpi=DEFAULT_DPI):
    """Draw every plot of a sweep folder; returns ``{name: path}`` of the PNGs written.

    One swept parameter: ``loss_curves.png``, ``accuracy.png`` (training, validation
    and test accuracy against the value), and ``zero_fraction.png`` when some weights
    are exactly zero.  Two: also ``heatmap.png`` (validation accuracy), and the
    accuracy plot has one line per value of the second parameter.  More than two:
    one ``accuracy_<param>.png`` per parameter, averaged over the others (its title
    says so).  ``dpi`` sets the PNGs' resolution.
    """
    check_figure_path("plot.png", dpi)
    payload, curves = load_results(folder)
    rows = payload["rows"]
    names = list(names or payload.get("grid") or [])
    swept = [n for n in names if len(payload["grid"].get(n, [])) > 1] or names
    if len(swept) == 2 and not is_numeric(payload["grid"][swept[0]]) and is_numeric(payload["grid"][swept[1]]):
        swept = swept[::-1]  # numbers on the x axis, categories as lines
    paths = {}
    if not rows or not swept:
        return paths
    out = lambda name: os.path.join(folder, name)  # noqa: E731
    varies = seeds_vary(payload.get("resplit", False))

    def spread(by):
        label = spread_label(rows, by, swept)
        return f"{label};\n{varies}" if "seed" in label else label

    paths["loss_curves"] = out("loss_curves.png")
    plot_loss_curves(rows, curves, swept, paths["loss_curves"], dpi=dpi)
    if len(swept) == 1:
        summary = summarize(rows, swept)
        paths["accuracy"] = out("accuracy.png")
        plot_metric(summary, swept[0], paths["accuracy"], "val_accuracy",
                    extra_metrics=("train_accuracy", "test_accuracy"),
                    title=f"training, validation and test accuracy against {swept[0]}",
                    spread=spread(swept), dpi=dpi)
    elif len(swept) == 2:
        summary = summarize(rows, swept)
        paths["accuracy"] = out("accuracy.png")
        plot_metric(summary, swept[0], paths["accuracy"], "val_accuracy", series=swept[1],
                    spread=spread(swept), dpi=dpi)
        paths["heatmap"] = out("heatmap.png")
        plot_heatmap(summary, swept[0], swept[1], paths["heatmap"], dpi=dpi, varies=varies)
    else:
        for name in swept:
            paths[f"accuracy_{name}"] = out(f"accuracy_{name}.png")
            plot_metric(summarize(rows, [name]), name, paths[f"accuracy_{name}"], "val_accuracy",
                        spread=spread([name]), dpi=dpi)
    zeros = [r["zero_fraction"] for r in rows if not r["diverged"]]
    if any(z > 0 for z in zeros if not math.isnan(z)):
        paths["zero_fraction"] = out("zero_fraction.png")
        by = swept[:2] if len(swept) == 2 else swept[:1]
        plot_metric(summarize(rows, by), swept[0], paths["zero_fraction"], "zero_fraction",
                    series=swept[1] if len(swept) == 2 else None,
                    spread=spread(by), dpi=dpi)
    return paths


def _key(value):
    """Hashable, type-preserving key of a parameter value (1 and 1.0 and True differ)."""
    return (type(value).__name__, value)


def _unkey(key):
    return key[1]
