"""Figures and the statistics they show: file formats, resolution, spreads, axes, text rules."""
import math
import struct

import numpy as np
import pytest
from click.testing import CliRunner

import fastsoftmax.experiments.plots as sweep_plots
from fastsoftmax.experiments import axes
from fastsoftmax.experiments.results import write_results
from fastsoftmax.cli import main
from fastsoftmax.experiments.report import grid_edge_sentences, plot_caption, sweep_findings
from fastsoftmax.experiments.stats import (clearly_better, clearly_differs, grid_edges,
                                           sample_sd, spread_label)
from fastsoftmax.experiments.stats import summarize
from fastsoftmax.experiments.study import _analysis_lr
from fastsoftmax.plots.figures import (PALETTE, check_figure_path, plot_confusion_matrix,
                                       plot_loss_curve)

MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF",), "svg": (b"<?xml", b"<svg")}


def _png_size(path):
    """Width and height from the PNG's IHDR chunk (bytes 16..24), read without matplotlib."""
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[12:16] == b"IHDR"
    return struct.unpack(">II", header[16:24])


@pytest.fixture
def captured(monkeypatch):
    """Keep the figures the sweep plots would save, to inspect their Axes."""
    figures = []
    monkeypatch.setattr(sweep_plots, "save_figure", lambda fig, path, dpi=None: figures.append(fig))
    yield figures
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


# ---------------------------------------------------------------------- formats and dpi
@pytest.mark.parametrize("ext", ["png", "pdf", "svg", "PDF"])
def test_format_follows_the_extension(tmp_path, ext):
    curve = tmp_path / f"loss.{ext}"
    matrix = tmp_path / f"confusion.{ext}"
    plot_loss_curve(np.linspace(2, 0.5, 200) + 0.05 * np.sin(np.arange(200)), curve)
    plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["a", "b"], matrix)
    for path in (curve, matrix):
        start = path.read_bytes()[:8]
        assert start.startswith(MAGIC[ext.lower()]), start


def test_pdf_and_svg_bytes_do_not_depend_on_the_date(tmp_path):
    for ext in ("pdf", "svg"):
        first, second = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
        plot_loss_curve(np.linspace(2, 0.5, 100), first)
        plot_loss_curve(np.linspace(2, 0.5, 100), second)
        assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("name", ["loss.jpg", "loss", "loss.png.gz"])
def test_unknown_extension_is_refused_before_any_work(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ValueError, match=r"use one of \.png, \.pdf, \.svg"):
        check_figure_path(path)
    with pytest.raises(ValueError, match="cannot write a figure as"):
        plot_loss_curve(np.ones(10), path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dpi", [0, -5, float("nan"), "high", True, 10_000])
def test_bad_dpi_is_refused(tmp_path, dpi):
    with pytest.raises(ValueError, match="dpi must be a number"):
        check_figure_path(tmp_path / "x.png", dpi)


def test_dpi_scales_the_png(tmp_path):
    low, high = tmp_path / "low.png", tmp_path / "high.png"
    losses = np.linspace(2, 0.5, 300)
    plot_loss_curve(losses, low, dpi=60)
    plot_loss_curve(losses, high, dpi=180)
    (w1, h1), (w2, h2) = _png_size(low), _png_size(high)
    assert w2 / w1 == pytest.approx(3, rel=0.03) and h2 / h1 == pytest.approx(3, rel=0.03)


def test_cli_plot_format_and_dpi(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(main, ["train", "--plot", str(tmp_path / "loss.jpg")])
    assert bad.exit_code == 2 and "Error: cannot write a figure as '.jpg'" in bad.output
    assert "train accuracy" not in bad.output  # refused before training
    pdf = tmp_path / "loss.pdf"
    good = runner.invoke(main, ["train", "--n-iter", "50", "--plot", str(pdf), "--dpi", "90"])
    assert good.exit_code == 0, good.output
    assert pdf.read_bytes()[:4] == b"%PDF"


# ---------------------------------------------------------------------- spread
def _rows(**columns):
    n = len(next(iter(columns.values())))
    return [{"run": i, "diverged": False, **{k: v[i] for k, v in columns.items()}}
            for i in range(n)]


def _metric_rows(config_values, accuracies, seeds):
    rows = []
    for i, (value, acc, seed) in enumerate(zip(config_values, accuracies, seeds)):
        rows.append({"run": i, "lr": value, "seed": seed, "diverged": False,
                     "train_accuracy": acc, "val_accuracy": acc, "test_accuracy": acc,
                     "final_loss": 1 - acc, "zero_fraction": 0.0, "seconds": 1.0})
    return rows


def test_summarize_uses_the_sample_sd_and_nan_for_one_run():
    accs = [0.50, 0.54, 0.61, 0.70]
    rows = _metric_rows([0.1, 0.1, 0.1, 0.01], accs, [0, 1, 2, 0])
    summary = summarize(rows, ["lr"])
    by_hand = math.sqrt(sum((a - np.mean(accs[:3])) ** 2 for a in accs[:3]) / 2)
    assert summary[0]["val_accuracy_std"] == pytest.approx(by_hand)
    assert summary[0]["val_accuracy_std"] == pytest.approx(np.std(accs[:3], ddof=1))
    assert summary[1]["runs"] == 1 and math.isnan(summary[1]["val_accuracy_std"])
    assert sample_sd([3.0]) != sample_sd([3.0])  # NaN
    assert sample_sd([1.0, 3.0]) == pytest.approx(math.sqrt(2))


def test_spread_label_names_what_varies():
    rows = _rows(a=[1, 1, 1, 1, 2, 2, 2, 2], b=["x", "x", "y", "y"] * 2,
                 c=[0.1, 0.2] * 4, seed=[0] * 8)
    assert spread_label(rows, ["a"], ["a", "b", "c"]) == \
        "mean ± sd over 4 runs: 1 seed × 4 settings of b, c"
    seeds = _rows(a=[1, 1, 2, 2], seed=[0, 1, 0, 1])
    assert spread_label(seeds, ["a"], ["a"]) == "mean ± sd over 2 seeds"
    assert spread_label(_rows(a=[1, 2], seed=[0, 0]), ["a"], ["a"]) == ""


def test_three_parameter_title_says_the_spread_is_over_other_parameters(tmp_path, captured):
    rows = []
    for a in (0.1, 0.01):
        for b in ("l1", "l2"):
            for c in (16, 32):
                rows.append({"a": a, "b": b, "c": c, "seed": 0, "diverged": False,
                             "val_accuracy": 0.5 + a + (c / 100), "runs": 1})
    for key in ("train_accuracy", "test_accuracy", "final_loss", "zero_fraction", "seconds"):
        for row in rows:
            row[key] = 0.0
    summary = summarize(rows, ["a"])
    sweep_plots.plot_metric(summary, "a", str(tmp_path / "x.png"),
                            spread=spread_label(rows, ["a"], ["a", "b", "c"]))
    title = captured[0].axes[0].get_title()
    assert "4 runs: 1 seed × 4 settings of b, c" in title and "seeds)" not in title


# ---------------------------------------------------------------------- axes
def _summary(values, means, sds, runs=3, param="p"):
    return [{param: v, "runs": runs, "diverged": 0, "val_accuracy_mean": m, "val_accuracy_std": s}
            for v, m, s in zip(values, means, sds)]


def _data_lines(ax):
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 1]


def test_categorical_axis_draws_markers_not_lines(tmp_path, captured):
    summary = _summary(["l1", "l2", "elasticnet"], [0.8, 0.85, 0.82], [0.01, 0.02, 0.01])
    sweep_plots.plot_metric(summary, "p", str(tmp_path / "c.png"))
    ax = captured[0].axes[0]
    lines = _data_lines(ax)
    assert lines and all(line.get_linestyle() in ("None", "none", "") for line in lines)
    assert [line.get_marker() for line in lines].count("o") == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["l1", "l2", "elasticnet"]


def test_numeric_axis_joins_points_in_order(tmp_path, captured):
    summary = _summary([0.1, 0.001, 0.01], [0.8, 0.6, 0.7], [0.01, 0.01, 0.01])
    sweep_plots.plot_metric(summary, "p", str(tmp_path / "n.png"))
    (line,) = [x for x in _data_lines(captured[0].axes[0]) if x.get_linestyle() == "-"]
    assert list(line.get_xdata()) == [0.001, 0.01, 0.1]
    assert list(line.get_ydata()) == [0.6, 0.7, 0.8]


def test_single_runs_have_no_error_bars(tmp_path, captured):
    summary = _summary([1, 2, 3], [0.8, 0.85, 0.82], [math.nan, 0.02, math.nan], runs=1)
    sweep_plots.plot_metric(summary, "p", str(tmp_path / "e.png"))
    ax = captured[0].axes[0]
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]
    assert len(segments) == 1  # the one finite sd only
    assert np.allclose(segments[0][:, 1], [0.83, 0.87])


def _overlaps(ax):
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels()
                    if t.get_visible() and t.get_text()), key=lambda b: b.x0)
    return [(a, b) for a, b in zip(boxes, boxes[1:]) if a.x1 > b.x0]


def test_crowded_log_ticks_do_not_overlap(tmp_path, captured):
    alphas = [1e-5, 1e-4, 1e-3, 1.2 / 500, 1e-2, 3e-2, 0.1, 0.3, 1.0]
    summary = _summary(alphas, np.linspace(0.9, 0.6, 9), [0.01] * 9, param="alpha")
    sweep_plots.plot_metric(summary, "alpha", str(tmp_path / "l2.png"))
    ax = captured[0].axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert len(labels) >= 3 and not _overlaps(ax)
    assert "0.0024" not in labels  # the crowded tried values gave way to round ones


def test_spaced_values_are_the_tick_labels(tmp_path, captured):
    summary = _summary([16, 32, 64, 128], [0.8, 0.81, 0.82, 0.83], [0.01] * 4, param="batch_size")
    sweep_plots.plot_metric(summary, "batch_size", str(tmp_path / "b.png"))
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32", "64", "128"]
    assert not _overlaps(ax)


def test_a_crowd_of_tried_values_is_labelled_by_round_values(tmp_path, captured):
    n = axes.MAX_LABELLED_VALUES + 1
    alphas = [1e-4 * (k + 1) for k in range(n)]
    summary = _summary(alphas, np.linspace(0.9, 0.6, n), [0.01] * n, param="alpha")
    sweep_plots.plot_metric(summary, "alpha", str(tmp_path / "many.png"))
    ax = captured[0].axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert 3 <= len(labels) < n and not _overlaps(ax)
    assert all(math.log10(float(t)).is_integer() for t in labels)  # the locator's powers of ten
    (line,) = [x for x in _data_lines(ax) if x.get_linestyle() == "-"]
    assert list(line.get_xdata()) == alphas  # every tried value is still a point


def test_a_crowd_of_categories_labels_every_kth(tmp_path, captured):
    n = 2 * axes.MAX_LABELLED_VALUES + 5
    names = [f"c{k}" for k in range(n)]
    summary = _summary(names, np.linspace(0.9, 0.6, n), [0.01] * n)
    sweep_plots.plot_metric(summary, "p", str(tmp_path / "cats.png"))
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"c{k}" for k in range(0, n, 3)]
    assert list(ax.get_xticks()) == list(range(0, n, 3))


def _curve_rows(name, values, n_updates):
    rows, curves = [], {}
    rng = np.random.default_rng(0)
    for run, (value, n) in enumerate(zip(values, n_updates)):
        rows.append({"run": run, name: value, "seed": 0, "diverged": False})
        curves[run] = (np.arange(1, n + 1), 1 + rng.normal(0, 0.1, n) + 2 * np.exp(-np.arange(n) / 30))
    return rows, curves


def test_loss_panels_draw_the_raw_curve_under_the_smoothed_one(tmp_path, captured):
    rows, curves = _curve_rows("batch_size", [16, 64, 256], [400] * 3)
    sweep_plots.plot_loss_curves(rows, curves, ["batch_size"], str(tmp_path / "l.png"))
    panels = [ax for ax in captured[0].axes if ax.get_visible()]
    assert len(panels) == 3
    for ax, run in zip(panels, range(3)):
        raw, smoothed = ax.get_lines()
        assert np.array_equal(raw.get_ydata(), curves[run][1])  # every update, not smoothed
        assert raw.get_alpha() < 0.5 and raw.get_zorder() <= smoothed.get_zorder()
        assert len(smoothed.get_ydata()) < len(raw.get_ydata())
        assert np.std(np.diff(smoothed.get_ydata())) < np.std(np.diff(raw.get_ydata()))


def test_run_length_curves_mark_where_each_run_ends(tmp_path, captured):
    lengths = [40, 200, 1000]  # span 25x: a log axis, so the short runs are not squashed
    rows, curves = _curve_rows("n_iter", lengths, lengths)
    sweep_plots.plot_loss_curves(rows, curves, ["n_iter"], str(tmp_path / "n.png"))
    ax = captured[0].axes[0]
    ends = sorted(line.get_xdata()[0] for line in ax.get_lines()
                  if len(line.get_xdata()) == 1 and line.get_marker() == "o")
    window = lengths[0] // 20  # one centred window for all: the curves stay comparable
    assert len(ends) == 3 and all(n - window <= e <= n for n, e in zip(lengths, ends))
    assert ax.get_xscale() == "log"


# ---------------------------------------------------------------------- noise rule and grid edges
def _entry(mean, sd, runs=3, diverged=0):
    return {"runs": runs, "diverged": diverged, "val_accuracy_mean": mean, "val_accuracy_std": sd}


def test_noise_rule_on_hand_made_means():
    # 0.3 points apart with an sd of 1 point: noise (the "helped at 3 of 8" case)
    assert not clearly_differs(_entry(0.803, 0.01), _entry(0.800, 0.01))
    # 3 points apart, sd 0.1 point: real
    assert clearly_better(_entry(0.83, 0.001), _entry(0.80, 0.001))
    assert not clearly_better(_entry(0.80, 0.001), _entry(0.83, 0.001))
    # 5 points apart but 2 runs with sd 5 points: SE = sqrt(2 * 0.05**2 / 2) = 0.05 -> 2 SE = 0.1
    assert not clearly_differs(_entry(0.85, 0.05, runs=2), _entry(0.80, 0.05, runs=2))
    assert clearly_differs(_entry(0.95, 0.05, runs=2), _entry(0.80, 0.05, runs=2))
    # one run each: only the 1-point floor applies
    assert clearly_differs(_entry(0.82, math.nan, 1), _entry(0.80, math.nan, 1))
    assert not clearly_differs(_entry(0.805, math.nan, 1), _entry(0.80, math.nan, 1))
    # diverged runs do not count as runs; all diverged: never different
    assert not clearly_differs(_entry(0.805, 0.0, runs=3, diverged=2), _entry(0.80, 0.0))
    assert not clearly_differs(_entry(math.nan, math.nan), _entry(0.80, 0.01))


def test_study_counts_step_decay_gains_by_the_noise_rule():
    rows = []
    summary = []
    for rate, const, step in [(1.0, 0.800, 0.803), (0.1, 0.700, 0.760), (0.01, 0.600, 0.550)]:
        for schedule, acc in (("constant", const), ("step", step)):
            summary.append({"learning_rate": rate, "lr_schedule": schedule, "runs": 3,
                            "diverged": 0, "val_accuracy_mean": acc, "val_accuracy_std": 0.01,
                            "test_accuracy_mean": acc, "final_loss_mean": 1 - acc})
    text, numbers = _analysis_lr(rows, {}, summary, {"n_iter": 100})
    assert numbers["step_helped"] == [0.1] and numbers["step_hurt"] == [0.01]
    assert "helped at 1 of 3 rates (0.1) and hurt at 1 (0.01); at the other 1 the " \
           "difference is within noise" in " ".join(text)


def test_grid_edges_on_hand_made_results():
    grid = {"learning_rate": [0.001, 0.01, 0.1], "penalty": ["l1", "l2", "elasticnet"],
            "batch_size": [16, 32, 48], "alpha": [0.1, 1.0]}
    best = {"learning_rate": 0.1, "penalty": "elasticnet", "batch_size": 16, "alpha": 1.0}
    edges = {e["param"]: e for e in grid_edges(best, grid)}
    assert set(edges) == {"learning_rate", "batch_size"}  # categories and 2-value grids skipped
    assert edges["learning_rate"]["side"] == "highest"
    assert edges["learning_rate"]["suggest"] == pytest.approx(1.0)  # one decade further
    assert edges["batch_size"]["side"] == "lowest" and edges["batch_size"]["suggest"] is None
    assert grid_edges({"learning_rate": 0.01}, grid) == []
    (sentence,) = grid_edge_sentences({"learning_rate": 0.1}, grid)
    assert "highest value tried" in sentence and "learning_rate=0.001,0.01,0.1,1" in sentence


def test_sweep_findings_say_edge_and_ties():
    summary = [{"lr": lr, "runs": 3, "diverged": 0, "val_accuracy_mean": m,
                "val_accuracy_std": 0.002, "test_accuracy_mean": m}
               for lr, m in [(0.001, 0.70), (0.01, 0.795), (0.1, 0.80)]]
    text = " ".join(sweep_findings(summary, ["lr"], {"lr": [0.001, 0.01, 0.1]}))
    assert "`lr=0.1`" in text and "highest value tried" in text
    assert "Within noise of it (not clearly worse): `lr=0.01` (0.7950)" in text
    assert "`lr=0.001` (0.7000)" not in text.split("Within noise")[1].split(".")[0]


def test_heatmap_scale_is_anchored_and_prints_the_values(tmp_path, captured):
    """Accuracies 0.911..0.951 do not fill the colour scale (it spans at least 10 points,
    inside 0..1) and every cell prints its value."""
    summary = [{"a": a, "b": b, "runs": 1, "diverged": 0, "val_accuracy_mean": acc,
                "val_accuracy_std": math.nan}
               for (a, b), acc in zip([(1, 1), (1, 2), (2, 1), (2, 2)],
                                      [0.911, 0.921, 0.941, 0.951])]
    sweep_plots.plot_heatmap(summary, "a", "b", tmp_path / "h.png")
    ax = captured[0].axes[0]
    low, high = ax.images[0].get_clim()
    assert high - low == pytest.approx(sweep_plots.MIN_SHARE_SPAN)
    assert low < 0.911 and high > 0.951
    assert sorted(t.get_text() for t in ax.texts) == ["0.911", "0.921", "0.941", "0.951"]
    assert sweep_plots.heatmap_scale([0.97, 0.99], "val_accuracy") == pytest.approx((0.9, 1.0))
    assert sweep_plots.heatmap_scale([0.2, 0.9], "val_accuracy") == (0.2, 0.9)
    assert sweep_plots.heatmap_scale([0.3, 0.5], "final_loss") == (0.3, 0.5)


def _lr_schedule_rows(rates, schedules=("constant", "step")):
    rows, curves, run = [], {}, 0
    for rate in rates:
        for schedule in schedules:
            rows.append({"run": run, "learning_rate": rate, "lr_schedule": schedule,
                         "diverged": False, "seed": 0})
            curves[run] = (np.arange(1, 201), 2.3 / (1 + rate * np.arange(200) / 50)
                           + (0.1 if schedule == "constant" else 0.2))
            run += 1
    return rows, curves


def test_many_loss_curves_differ_in_colour_style_or_marker_with_a_safe_palette(tmp_path,
                                                                             captured):
    """16 curves (8 rates x 2 schedules): Okabe-Ito colours (no colour map), the schedule
    as line style, markers past the palette; no two curves look alike."""
    rows, curves = _lr_schedule_rows([100, 10, 1, 0.1, 0.01, 1e-3, 1e-4, 1e-5])
    sweep_plots.plot_loss_curves(rows, curves, ["learning_rate", "lr_schedule"],
                                 tmp_path / "c.png")
    lines = [l for l in captured[0].axes[0].get_lines() if l.get_label()[0] != "_"]
    assert len(lines) == 16
    looks = {(l.get_color(), l.get_linestyle(), str(l.get_marker())) for l in lines}
    assert len(looks) == 16
    assert {l.get_color() for l in lines} <= set(PALETTE)
    assert "#F0E442" not in PALETTE  # Okabe-Ito's yellow: faint on white
    by_label = {l.get_label(): l for l in lines}
    # lr 100, 10 and 1 (nearly one colour under viridis) get distinct colours
    assert len({by_label[f"learning_rate={r}, lr_schedule=constant"].get_color()
                for r in ("100", "10", "1")}) == 3
    assert {by_label["learning_rate=1, lr_schedule=constant"].get_linestyle(),
            by_label["learning_rate=1, lr_schedule=step"].get_linestyle()} == {"-", "--"}


@pytest.mark.parametrize("rates, raw", [([1, 0.1], True), ([10, 1, 0.1, 0.01], False)])
def test_loss_caption_promises_raw_runs_only_where_they_are_drawn(tmp_path, captured, rates,
                                                                   raw):
    """Two-parameter loss figures: raw (faint) runs are drawn under the means for up to
    four configurations; the report's caption says raw runs exactly when there are some."""
    rows, curves = _lr_schedule_rows(rates)
    names = ["learning_rate", "lr_schedule"]
    sweep_plots.plot_loss_curves(rows, curves, names, tmp_path / "c.png")
    faint = [l for l in captured[0].axes[0].get_lines()
             if l.get_label()[0] == "_" and (l.get_alpha() or 1) < 0.5]
    assert len(faint) == (len(rows) if raw else 0)
    caption = plot_caption("loss_curves", names, len(rows))
    assert ("one run raw (faint) under the smoothed mean" in caption) == raw
    assert ("no raw runs" in caption) == (not raw)


def test_coinciding_curves_stay_visible_and_the_legend_says_so(tmp_path, captured):
    """The L1 figure: at alpha 1e-4 subgradient and proximal curves are identical; the
    first becomes a wide pale band under the second, and the legend says they coincide.
    At alpha 1e-3 they differ and are drawn as usual."""
    rows, curves = [], {}
    for run, (alpha, method) in enumerate([(1e-4, "proximal"), (1e-4, "subgradient"),
                                           (1e-3, "proximal"), (1e-3, "subgradient")]):
        rows.append({"run": run, "alpha": alpha, "l1_method": method, "diverged": False})
        shift = 0.3 if (alpha, method) == (1e-3, "subgradient") else 0.0
        curves[run] = (np.arange(1, 301), 2.3 / (1 + np.arange(300) / 30) + 0.1 + shift)
    sweep_plots.plot_loss_curves(rows, curves, ["alpha", "l1_method"], tmp_path / "l1.png")
    lines = {l.get_label().split(" (")[0]: l for l in captured[0].axes[0].get_lines()
             if l.get_label()[0] != "_"}
    band, top = lines["alpha=0.0001, l1_method=proximal"], lines["alpha=0.0001, l1_method=subgradient"]
    assert band.get_linewidth() > 2 * top.get_linewidth() and band.get_alpha() < 0.5
    assert top.get_zorder() > band.get_zorder() and top.get_linestyle() != band.get_linestyle()
    assert top.get_label().endswith("(coincides with the l1_method=proximal band)")
    apart = [lines["alpha=0.001, l1_method=proximal"], lines["alpha=0.001, l1_method=subgradient"]]
    assert all(l.get_linewidth() == 1.5 and l.get_alpha() is None for l in apart)
    assert not any("coincide" in l.get_label() for l in apart)
    legend = [t.get_text() for t in captured[0].axes[0].get_legend().get_texts()]
    assert sum("coincide" in t for t in legend) == 1


@pytest.mark.parametrize("n, shape", [(2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)),
                                      (6, (2, 3)), (7, (2, 4)), (9, (3, 3))])
def test_loss_panels_fit_the_count_and_each_column_bottom_has_tick_labels(tmp_path, captured,
                                                                          n, shape):
    """A 4-value grid is 2x2 (not 3x2 with 2 empty panels); the lowest panel of every
    column shows x tick labels and the axis name."""
    assert sweep_plots.panel_grid(n) == shape
    rows, curves = _curve_rows("batch_size", [2 ** k for k in range(n)], [300] * n)
    sweep_plots.plot_loss_curves(rows, curves, ["batch_size"], str(tmp_path / "p.png"))
    fig = captured[0]
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == n
    assert len(fig.axes) - n == shape[0] * shape[1] - n  # empty panels only where unavoidable
    for col in range(shape[1]):
        column = [ax for ax in panels if ax.get_subplotspec().colspan.start == col]
        bottom = max(column, key=lambda ax: ax.get_subplotspec().rowspan.start)
        labels = [t.get_text() for t in bottom.get_xticklabels() if t.get_visible()]
        assert any(labels) and bottom.get_xlabel() == "update"


@pytest.mark.parametrize("resplit, phrase", [
    (None, "seeds vary only the minibatch order, on one validation split"),
    (True, "each seed: its own validation split and minibatch order")])
def test_seed_spread_titles_say_what_the_seeds_vary(tmp_path, captured, resplit, phrase):
    """"mean ± sd over 2 seeds" says what differs between the seeds: the minibatch order
    only (one split), or the split too with --resplit (read from results.json)."""
    rows = []
    for run, (a, b, seed) in enumerate([(a, b, s) for a in (1, 2) for b in ("x", "y")
                                        for s in (0, 1)]):
        rows.append({"run": run, "a": a, "b": b, "seed": seed, "diverged": False, "error": "",
                     "train_accuracy": 0.9, "val_accuracy": 0.9, "test_accuracy": 0.9,
                     "final_loss": 0.3, "start_loss": 2.3, "updates_done": 10, "seconds": 1.0,
                     "zero_fraction": 0.0, "params": {},
                     "curve": (np.arange(1, 11), np.linspace(2, 1, 10))})
    meta = {"repeats": 2, "seed": 0} if resplit is None else {"repeats": 2, "resplit": True}
    write_results(rows, str(tmp_path), {"a": [1, 2], "b": ["x", "y"]}, meta)
    sweep_plots.make_plots(str(tmp_path))
    titles = [ax.get_title() for fig in captured for ax in fig.axes]
    accuracy = next(t for t in titles if "mean ± sd over 2 seeds" in t)
    heatmap = next(t for t in titles if "mean ± sd over seeds" in t)
    assert accuracy.endswith(f"(mean ± sd over 2 seeds;\n{phrase})")
    assert heatmap.endswith(f"(mean ± sd over seeds;\n{phrase})")


def test_accuracy_series_use_the_safe_palette_and_line_styles(tmp_path, captured):
    """The accuracy figure's series (e.g. lr_schedule) get Okabe-Ito colours and distinct
    line styles, not a colour map whose ends fade on white."""
    summary = [{"learning_rate": lr, "lr_schedule": s, "runs": 1, "diverged": 0,
                "val_accuracy_mean": 0.9, "val_accuracy_std": math.nan}
               for s in ("constant", "step") for lr in (0.01, 0.1, 1)]
    sweep_plots.plot_metric(summary, "learning_rate", tmp_path / "a.png", series="lr_schedule")
    lines = [l for l in captured[0].axes[0].get_lines() if l.get_label()[0] != "_"]
    assert [l.get_color() for l in lines] == list(PALETTE[:2])
    assert [l.get_linestyle() for l in lines] == ["-", "--"]
