"""Markdown and self-contained HTML reports of sweep folders.

A report is built as a :class:`Document` (headings, paragraphs, lists, tables,
images) and rendered twice: ``report.md`` links the PNGs beside it, ``report.html``
embeds them as base64 ``data:`` URIs so the one file can be mailed or archived.

The sweep folder is read through :mod:`.results`, summarized by :mod:`.stats` and its
missing plots drawn by :mod:`.plots`; :mod:`.study` builds its report from the
pieces here.
"""
import base64
import html
import math
import os
import re

from fastsoftmax.experiments.plots import draws_raw_curves, make_plots
from fastsoftmax.experiments.results import RESULT_FILES, ResultsFileError, atomic_write, read_sweep_results
from fastsoftmax.experiments.stats import (NOISE_RULE, clearly_better, grid_edges, seeds_vary,
                                           summarize)
from fastsoftmax.io.paths import open_regular


class Document:
    """An ordered list of report blocks, rendered to Markdown or HTML.

    Text may use ``code`` (backticks) and **bold**; both renderers honour them.
    """

    def __init__(self, title):
        self.title = title
        self.blocks = []

    def heading(self, text, level=2):
        self.blocks.append(("heading", level, text))

    def paragraph(self, text):
        self.blocks.append(("paragraph", text))

    def bullets(self, items):
        if items:
            self.blocks.append(("bullets", list(items)))

    def table(self, header, rows):
        self.blocks.append(("table", list(header), [list(r) for r in rows]))

    def image(self, path, caption):
        """A PNG (absolute or relative to the current directory) and its caption."""
        self.blocks.append(("image", os.path.abspath(path), caption))

    def to_markdown(self, folder):
        """Markdown; image links are relative to ``folder`` (where the file will live)."""
        lines = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                lines += [f"{'#' * block[1]} {block[2]}", ""]
            elif kind == "paragraph":
                lines += [block[1], ""]
            elif kind == "bullets":
                lines += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                header, rows = block[1], block[2]
                lines.append("| " + " | ".join(header) + " |")
                lines.append("|" + "|".join("---" for _ in header) + "|")
                lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
                lines.append("")
            elif kind == "image":
                rel = os.path.relpath(block[1], os.path.abspath(folder)).replace(os.sep, "/")
                lines += [f"![{block[2]}]({rel})", "", f"*{block[2]}*", ""]
        return "\n".join(lines)

    def to_html(self):
        """One self-contained HTML page (styles inline, PNGs as base64 data URIs)."""
        parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                 f"<title>{html.escape(self.title)}</title>", f"<style>{_CSS}</style>",
                 "</head><body>", f"<h1>{_inline(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                level = min(6, block[1])
                parts.append(f"<h{level}>{_inline(block[2])}</h{level}>")
            elif kind == "paragraph":
                parts.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
                body = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row)
                               + "</tr>" for row in block[2])
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "image":
                with open_regular(block[1]) as handle:
                    data = base64.b64encode(handle.read()).decode("ascii")
                parts.append(f'<figure><img alt="{html.escape(block[2])}" '
                             f'src="data:image/png;base64,{data}"><figcaption>'
                             f"{_inline(block[2])}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;"
        "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
        "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
        "code{background:#f3f3f3;padding:0 .2em}img{max-width:100%}figure{margin:1em 0}"
        "figcaption{font-style:italic;color:#555}")


def _inline(text):
    escaped = html.escape(str(text))
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def write_document(document, folder, name="report"):
    """Write ``<name>.md`` and ``<name>.html`` into ``folder`` atomically; returns both paths."""
    md = os.path.join(folder, f"{name}.md")
    page = os.path.join(folder, f"{name}.html")
    atomic_write(page, document.to_html())
    atomic_write(md, document.to_markdown(folder))
    return {"markdown": md, "html": page}


# ---------------------------------------------------------------------- formatting
def fmt(value, digits=4):
    """A number for a table: ``nan`` as an en dash, floats with ``digits`` decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_value(value):
    """A parameter value: ``0.001``, ``1e-05``, ``500``, ``l1``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def mean_sd(entry, metric, digits=4):
    mean, sd = entry[f"{metric}_mean"], entry[f"{metric}_std"]
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if entry["runs"] - entry["diverged"] > 1 else "")


def summary_table(summary, names):
    """Header and rows of the per-configuration table of a sweep."""
    header = [*names, "validation acc.", "test acc.", "train acc.", "final loss",
              "zero weights", "diverged", "fit s"]
    rows = []
    for e in summary:
        rows.append([*(fmt_value(e[n]) for n in names), mean_sd(e, "val_accuracy"),
                     mean_sd(e, "test_accuracy"), mean_sd(e, "train_accuracy"),
                     fmt(e["final_loss_mean"]), fmt(e["zero_fraction_mean"], 3),
                     f"{e['diverged']}/{e['runs']}", fmt(e["seconds_mean"], 2)])
    return header, rows


def best_entry(summary, metric="val_accuracy"):
    """The configuration with the highest mean ``metric`` (None when all diverged)."""
    ok = [e for e in summary if not math.isnan(e[f"{metric}_mean"])]
    return max(ok, key=lambda e: e[f"{metric}_mean"]) if ok else None


def describe(entry, names):
    return ", ".join(f"`{n}={fmt_value(entry[n])}`" for n in names)


def features_phrase(sizes):
    """``98 PCA features of 1764 HOG features`` or ``16000 standardized kmeans features``
    (a sweep's or study's ``sizes``; files written before ``--features`` name HOG)."""
    kind = sizes.get("feature_step", "hog")
    name = "HOG" if kind == "hog" else str(kind)
    n_image = sizes.get("image_features", sizes.get("hog_features", "?"))
    image = f"{n_image} {'standardized ' if sizes.get('standardized') else ''}{name} features"
    if sizes.get("pca", True):
        return f"{sizes.get('features', '?')} PCA features of {image}"
    return image


def setup_bullets(payload):
    """The setup of a sweep as report bullet points."""
    items = []
    if payload.get("data"):
        sizes = payload.get("sizes", {})
        items.append(f"data: `{payload['data']}`" + (
            f" ({sizes.get('train', '?')} training, {sizes.get('val', '?')} validation, "
            f"{sizes.get('test', '?')} test samples; {features_phrase(sizes)})" if sizes else ""))
    if payload.get("grid"):
        items.append("grid: " + "; ".join(f"`{k}` = {', '.join(fmt_value(v) for v in vals)}"
                                          for k, vals in payload["grid"].items()))
    if payload.get("val_fraction") is not None:
        sizes = payload.get("sizes") or {}
        count = f", {sizes['val']} images" if "val" in sizes else ""
        items.append(f"held out for validation: {100 * payload['val_fraction']:g}% of the "
                     f"training images, stratified (`--val-fraction {fmt_value(payload['val_fraction'])}`"
                     f"{count})")
    if payload.get("base_params"):
        base = payload["base_params"]
        grid = payload.get("grid", {})
        # the classifier's own validation_fraction splits off data only for its early
        # stopping: listed without it, it reads as the sweep's validation split
        unused = set() if base.get("early_stopping") or "early_stopping" in grid else {
            "validation_fraction"}
        items.append("other parameters: " + ", ".join(
            f"`{k}={fmt_value(v)}`" for k, v in base.items()
            if k not in grid and k not in unused and v is not None))
    updates = sorted({r["updates_done"] for r in payload.get("rows", ())
                      if r.get("updates_done") is not None})
    if updates:
        items.append("updates per run: " + (f"{updates[0]:,}" if len(updates) == 1
                                            else f"{updates[0]:,} to {updates[-1]:,}"))
    if payload.get("repeats"):
        items.append(f"{payload['repeats']} seed(s) per configuration, starting at "
                     f"{payload.get('seed', 0)}; {len(payload['rows'])} runs; "
                     + seeds_vary(payload.get("resplit", False)))
    if payload.get("seconds") is not None:
        items.append(f"wall time {payload['seconds']:.1f} s with {payload.get('n_jobs', '?')} jobs")
    return items


def grid_edge_sentences(best, grid):
    """Sentences for each numeric parameter whose best value is the lowest or highest tried.

    Parameters
    ----------
    best : dict
        The best configuration's values (a summary entry or ``{name: value}``).
    grid : dict
        Parameter name -> values tried (parameters with fewer than three values are
        skipped: see :func:`~fastsoftmax.experiments.stats.grid_edges`).

    Returns
    -------
    list of str
        E.g. "The best `learning_rate`, 0.1, is the highest value tried: the best may
        lie beyond the grid; extend it, e.g. `learning_rate=0.001,0.01,0.1,1`."
    """
    sentences = []
    for edge in grid_edges(best, grid):
        name, values = edge["param"], sorted(grid[edge["param"]])
        text = (f"The best `{name}`, {fmt_value(edge['value'])}, is the {edge['side']} value "
                f"tried: the best may lie beyond the grid; extend it")
        if edge["suggest"] is None:
            text += f" {'below' if edge['side'] == 'lowest' else 'above'} {fmt_value(edge['value'])}."
        else:
            values = [edge["suggest"], *values] if edge["side"] == "lowest" else [*values, edge["suggest"]]
            text += f", e.g. `{name}={','.join(fmt_value(v) for v in values)}`."
        sentences.append(text)
    return sentences


def sweep_findings(summary, names, grid=None):
    """Sentences stating what the measurements show.

    The best configuration, the others within noise of it (the noise rule of
    :mod:`~fastsoftmax.experiments.stats`), the worst, a best value at the edge of
    ``grid`` (:func:`grid_edge_sentences`), and divergence.
    """
    sentences = []
    best = best_entry(summary)
    if best is not None:
        sentences.append(
            f"The best mean validation accuracy, {best['val_accuracy_mean']:.4f}, is reached by "
            f"{describe(best, names)} (test accuracy {best['test_accuracy_mean']:.4f}).")
        trained = [e for e in summary if not math.isnan(e["val_accuracy_mean"])]
        ties = [e for e in trained if e is not best and not clearly_better(best, e)]
        if ties:
            shown = "; ".join(f"{describe(e, names)} ({e['val_accuracy_mean']:.4f})" for e in ties[:5])
            more = f" and {len(ties) - 5} more" if len(ties) > 5 else ""
            sentences.append(f"Within noise of it (not clearly worse): {shown}{more}.")
        worst = min(trained, key=lambda e: e["val_accuracy_mean"])
        if worst is not best:
            sentences.append(f"The worst that trained, {describe(worst, names)}, reaches "
                             f"{worst['val_accuracy_mean']:.4f}.")
        sentences += grid_edge_sentences(best, {n: v for n, v in (grid or {}).items() if n in names})
    diverged = [e for e in summary if e["diverged"]]
    if diverged:
        sentences.append("Training diverged (non-finite loss) for " + "; ".join(
            f"{describe(e, names)} ({e['diverged']} of {e['runs']} runs)" for e in diverged) + ".")
    unstable = [e for e in summary if e.get("unstable")]
    if unstable:
        sentences.append("Unstable (the final loss ended above the loss before the first update) "
                         "for " + "; ".join(f"{describe(e, names)} ({e['unstable']} of {e['runs']} "
                                            f"runs; final loss {e['final_loss_mean']:.3f} against "
                                            f"{e['start_loss_mean']:.3f} at the start)"
                                            for e in unstable) + ".")
    if not diverged:
        sentences.append("No run diverged" + (" (non-finite loss)." if unstable else "."))
    return sentences


PLOT_CAPTIONS = {
    "loss_curves": "Training minibatch loss against update per configuration: one run raw "
                   "(faint) under the smoothed mean over seeds.",
    "accuracy": "Accuracy against the swept value (mean ± sample standard deviation; the title "
                "says over which runs).",
    "heatmap": "Mean validation accuracy over the two-parameter grid, printed in each cell; "
               "the colour scale spans at least 10 accuracy points.",
    "zero_fraction": "Fraction of exactly-zero weights in W.",
}


def plot_caption(key, names, n_configs):
    """The caption of a sweep's plot ``key``: :data:`PLOT_CAPTIONS`, the loss curves'
    saying whether raw runs are drawn (:func:`~fastsoftmax.experiments.plots.draws_raw_curves`)."""
    if key == "loss_curves" and not draws_raw_curves(names, n_configs):
        return ("Training minibatch loss against update per configuration: the smoothed mean "
                "over seeds (no raw runs: too many curves on one axes).")
    return PLOT_CAPTIONS.get(key, key.replace("_", " "))


def sweep_document(folder, title=None, make_missing_plots=True):
    """The report of one sweep folder as a :class:`Document` (plots drawn when missing)."""
    payload = read_sweep_results(folder)
    names = [n for n in payload["grid"] if len(payload["grid"][n]) > 1] or list(payload["grid"])
    summary = summarize(payload["rows"], names)
    doc = Document(title or payload.get("title") or f"Sweep over {' × '.join(names)}")
    doc.heading("Setup")
    doc.bullets(setup_bullets(payload))
    doc.heading("Findings")
    doc.paragraph(" ".join(sweep_findings(summary, names, payload["grid"])))
    doc.paragraph(f"Comparisons follow one noise rule: {NOISE_RULE}.")
    doc.heading("Results")
    doc.table(*summary_table(summary, names))
    order = ["loss_curves", "accuracy", "heatmap", "zero_fraction"]
    present = sorted((name[:-4] for name in os.listdir(folder)
                      if name.endswith(".png") and not name.startswith(".")),
                     key=lambda k: (order.index(k) if k in order else len(order), k))
    plots = {k: os.path.join(folder, f"{k}.png") for k in present}
    if make_missing_plots and not plots:
        plots = make_plots(folder)
    if plots:
        doc.heading("Plots")
        for key, path in plots.items():
            doc.image(path, plot_caption(key, names, len(summary)))
    return doc


def write_report(folder, title=None):
    """Write ``report.md`` and ``report.html`` for a sweep folder; returns their paths.

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no sweep results.
    ResultsFileError
        ``results.json`` is malformed, or the folder lacks ``results.csv`` or
        ``curves.npz`` (not a complete sweep: sweeps publish all three at once).
    """
    document = sweep_document(folder, title)
    missing = [n for n in RESULT_FILES if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise ResultsFileError(f"{str(folder)!r} is not a complete sweep folder (no "
                               f"{', '.join(missing)}); rerun the sweep")
    return write_document(document, folder)
