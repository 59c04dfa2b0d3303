"""PNG plots of a sweep folder: loss curves, a metric against a parameter, heatmaps."""
import math
import os

import numpy as np

from ..plots import pyplot, save_figure, smooth
from .sweep import load_results, summarize

#: Parameters always drawn on a log axis (when every value is > 0).
LOG_PARAMS = ("learning_rate", "alpha")

METRIC_LABELS = {
    "train_accuracy": "training accuracy",
    "val_accuracy": "validation accuracy",
    "test_accuracy": "test accuracy",
    "final_loss": "final loss (mean of the last 5% of updates)",
    "zero_fraction": "fraction of exactly-zero weights",
    "seconds": "fit time (s)",
}


def _numeric(values):
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def use_log_scale(param, values):
    """Log axis for learning rates and penalty strengths, and for numeric values spanning 20x+."""
    if not _numeric(values) or any(v is None or v <= 0 for v in values):
        return False
    return param in LOG_PARAMS or max(values) / min(values) >= 20


def format_value(value):
    """Short label of a parameter value: ``0.001``, ``1e-05``, ``500``, ``l2``."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _positions(param, values):
    """x positions of the values: the values themselves (numeric) or 0..n-1 (categories)."""
    if _numeric(values):
        return np.asarray(values, dtype=np.float64), False
    return np.arange(len(values), dtype=np.float64), True


def _style_x(ax, param, values, categorical):
    ax.set_xlabel(param)
    if categorical:
        ax.set_xticks(range(len(values)), [format_value(v) for v in values])
    elif use_log_scale(param, values):
        ax.set_xscale("log")
        ax.set_xticks(values, [format_value(v) for v in values])
        ax.minorticks_off()
    else:
        ax.set_xticks(values, [format_value(v) for v in values])


def plot_metric(summary, param, path, metric="val_accuracy", series=None, title=None,
                extra_metrics=()):
    """A metric (mean ± standard deviation over seeds) against one parameter's values.

    Parameters
    ----------
    summary : list of dict
        From :func:`fastsoftmax.experiments.sweep.summarize` over ``param`` (and ``series``).
    param : str
        The x-axis parameter.
    path : str
        PNG to write.
    metric : str, default="val_accuracy"
    series : str, optional
        A second parameter: one line per value.
    title : str, optional
    extra_metrics : tuple of str
        More metrics drawn as their own lines (one-parameter plots only).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    values = list(dict.fromkeys(_key(e[param]) for e in summary))
    values = [_unkey(v) for v in values]
    x_all, categorical = _positions(param, values)
    groups = [(None, summary)] if series is None else [
        (s, [e for e in summary if _key(e[series]) == s])
        for s in dict.fromkeys(_key(e[series]) for e in summary)]
    metrics = [metric] if series is not None else [metric, *extra_metrics]
    colors = plt.get_cmap("viridis" if series is not None else "tab10")
    diverged_x = []
    line = 0
    for label, entries in groups:
        for m in metrics:
            x, mean, std = [], [], []
            for entry in entries:
                xi = x_all[values.index(_unkey(_key(entry[param])))]
                if entry["diverged"] == entry["runs"]:
                    diverged_x.append(xi)
                    continue
                x.append(xi)
                mean.append(entry[f"{m}_mean"])
                std.append(entry[f"{m}_std"])
            name = (f"{series}={format_value(_unkey(label))}" if series is not None
                    else METRIC_LABELS.get(m, m))
            color = (colors(line / max(1, len(groups) - 1) * 0.9) if series is not None
                     else colors(line))
            if x:
                ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, lw=1.5,
                            color=color, label=name)
            line += 1
    if diverged_x:
        low = ax.get_ylim()[0]
        ax.scatter(sorted(set(diverged_x)), [low] * len(set(diverged_x)), marker="x", s=60,
                   color="tab:red", zorder=5, clip_on=False, label="diverged (all seeds)")
    _style_x(ax, param, values, categorical)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric) if series is not None or not extra_metrics
                  else "accuracy")
    runs = max((e["runs"] for e in summary), default=1)
    ax.set_title(title or f"{METRIC_LABELS.get(metric, metric)} against {param}"
                 + (f" (mean ± sd of {runs} seeds)" if runs > 1 else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_loss_curves(rows, curves, names, path, title=None, max_lines=16):
    """Smoothed minibatch loss against update, one line per configuration (seeds averaged).

    Parameters
    ----------
    rows : list of dict
        Sweep rows (with ``run``, ``diverged`` and the ``names`` values).
    curves : dict
        Run number -> ``(updates, losses)``.
    names : list of str
        Swept parameters that label the lines.
    path : str
    title : str, optional
    max_lines : int, default=16
        At most this many configurations are drawn (evenly chosen).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    configs = {}
    for row in rows:
        configs.setdefault(tuple(_key(row[n]) for n in names), []).append(row)
    keys = list(configs)
    if len(keys) > max_lines:
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, max_lines).round().astype(int)]
    cmap = plt.get_cmap("viridis")
    # colour by the first parameter's value, line style by the second's
    firsts = list(dict.fromkeys(k[0] for k in keys))
    seconds = list(dict.fromkeys(k[1] for k in keys)) if len(names) > 1 else [None]
    styles = ["-", "--", ":", "-."]
    lows, highs = [], []
    for key in keys:
        members = configs[key]
        label = ", ".join(f"{n}={format_value(_unkey(v))}" for n, v in zip(names, key))
        color = cmap(0.9 * firsts.index(key[0]) / max(1, len(firsts) - 1))
        style = styles[seconds.index(key[1]) % len(styles)] if len(names) > 1 else "-"
        ok = [curves[m["run"]] for m in members if not m["diverged"] and m["run"] in curves
              and len(curves[m["run"]][1])]
        if not ok:
            ax.plot([], [], color="tab:red", ls="none", marker="x", label=f"{label} (diverged)")
            continue
        updates = ok[0][0]
        same = [c[1] for c in ok if len(c[0]) == len(updates) and np.array_equal(c[0], updates)]
        losses = np.mean(same, axis=0)
        window = max(1, len(losses) // 50)
        if window > 1:
            losses = smooth(losses, window)
            updates = updates[window - 1:]
        ax.plot(updates, losses, color=color, lw=1.5, ls=style,
                label=label + (f" ({len(same)} seeds)" if len(same) > 1 else ""))
        finite = losses[np.isfinite(losses)]
        if len(finite):
            lows.append(finite.min())
            highs.append(finite.max())
    if lows and min(lows) > 0 and max(highs) / min(lows) > 5:
        ax.set_yscale("log")
    ax.set_xlabel("update (minibatch)")
    ax.set_ylabel("minibatch loss (smoothed)")
    ax.set_title(title or "training loss per configuration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    save_figure(fig, path)


def plot_heatmap(summary, row_param, col_param, path, metric="val_accuracy", title=None):
    """Mean ``metric`` over a two-parameter grid; diverged cells are marked."""
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
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(cols), 1.2 + 0.6 * len(rows)))
    masked = np.ma.masked_invalid(grid)
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (finite.min(), finite.max()) if len(finite) else (0, 1)
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
                text = f"{grid[i, j]:.3f}" + (f"\n±{std[i, j]:.3f}" if std[i, j] > 0 else "")
                color = "white" if grid[i, j] < middle else "black"
            else:
                text, color = "", "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, label=METRIC_LABELS.get(metric, metric))
    ax.set_title(title or f"{METRIC_LABELS.get(metric, metric)}: {row_param} × {col_param}")
    save_figure(fig, path)


def make_plots(folder, names=None):
    """Draw every plot of a sweep folder; returns ``{name: path}`` of the PNGs written.

    One swept parameter: ``loss_curves.png``, ``accuracy.png`` (training, validation
    and test accuracy against the value), and ``zero_fraction.png`` when some weights
    are exactly zero.  Two: also ``heatmap.png`` (validation accuracy), and the
    accuracy plot has one line per value of the second parameter.  More than two:
    one ``accuracy_<param>.png`` per parameter, averaged over the others.
    """
    payload, curves = load_results(folder)
    rows = payload["rows"]
    names = list(names or payload.get("grid") or [])
    swept = [n for n in names if len(payload["grid"].get(n, [])) > 1] or names
    if len(swept) == 2 and not _numeric(payload["grid"][swept[0]]) and _numeric(payload["grid"][swept[1]]):
        swept = swept[::-1]  # numbers on the x axis, categories as lines
    paths = {}
    if not rows or not swept:
        return paths
    out = lambda name: os.path.join(folder, name)  # noqa: E731
    paths["loss_curves"] = out("loss_curves.png")
    plot_loss_curves(rows, curves, swept, paths["loss_curves"])
    if len(swept) == 1:
        summary = summarize(rows, swept)
        paths["accuracy"] = out("accuracy.png")
        plot_metric(summary, swept[0], paths["accuracy"], "val_accuracy",
                    extra_metrics=("train_accuracy", "test_accuracy"),
                    title=f"accuracy against {swept[0]}"
                    + (f" (mean ± sd of {summary[0]['runs']} seeds)" if summary[0]["runs"] > 1 else ""))
    elif len(swept) == 2:
        summary = summarize(rows, swept)
        paths["accuracy"] = out("accuracy.png")
        plot_metric(summary, swept[0], paths["accuracy"], "val_accuracy", series=swept[1])
        paths["heatmap"] = out("heatmap.png")
        plot_heatmap(summary, swept[0], swept[1], paths["heatmap"])
    else:
        for name in swept:
            paths[f"accuracy_{name}"] = out(f"accuracy_{name}.png")
            plot_metric(summarize(rows, [name]), name, paths[f"accuracy_{name}"], "val_accuracy")
    zeros = [r["zero_fraction"] for r in rows if not r["diverged"]]
    if any(z > 0 for z in zeros if not math.isnan(z)):
        paths["zero_fraction"] = out("zero_fraction.png")
        by = swept[:2] if len(swept) == 2 else swept[:1]
        plot_metric(summarize(rows, by), swept[0], paths["zero_fraction"], "zero_fraction",
                    series=swept[1] if len(swept) == 2 else None)
    return paths


def _key(value):
    """Hashable, type-preserving key of a parameter value (1 and 1.0 and True differ)."""
    return (type(value).__name__, value)


def _unkey(key):
    return key[1]
