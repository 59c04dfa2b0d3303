"""The study's five analyses as sweeps, and one report written from their numbers.

1. batch size (curve steadiness, where accuracy stops improving),
2. learning rate × schedule (divergence, too-slow rates, step decay),
3. number of updates (where the loss flattens),
4. L2 strength (the best one),
5. L1 by proximal gradient against the subgradient (sparsity of W).

Scaling to the data (:func:`study_plan`): the study trained on 45,000 images with
batches of 500 for 50,000 updates, about 556 passes over the data.  Here the base
batch is ``min(500, n_train // 4)`` and the base number of updates keeps those 556
passes, clipped to 1,000..50,000 (``n_iter`` overrides it); batch sizes above
``n_train // 2`` are left out of the batch-size grid.  The study's learning rate, 0.01,
was tuned to its features; here the learning-rate analysis runs first and the other
four analyses use the constant rate with the best validation accuracy in it (unless a
``learning_rate`` is given).
"""
import json
import math
import os
import time

import numpy as np

from fastsoftmax._shared.presets import (STUDY_ALPHA, STUDY_BATCH, STUDY_L2, STUDY_LEARNING_RATE,
                                         STUDY_PASSES, STUDY_UPDATES)
from fastsoftmax._shared.progress import shifted
from fastsoftmax.experiments.plots import make_plots
from fastsoftmax.experiments.report import (Document, describe, features_phrase, fmt_value,
                                            grid_edge_sentences, setup_bullets, summary_table,
                                            write_document)
from fastsoftmax.experiments.results import (ANALYSES, ResultsFileError, atomic_write,
                                             check_output_folder, holds_complete_sweep,
                                             load_results, moved, publishing, write_results)
from fastsoftmax.experiments.stats import NOISE_RULE, clearly_better, clearly_differs, summarize
from fastsoftmax.experiments.sweep import count_runs, merge_seed_sweeps, run_sweep
from fastsoftmax.io.untrusted import read_json_file
from fastsoftmax.plots.figures import smooth

#: The order they run in: the learning-rate analysis picks the others' learning rate.
RUN_ORDER = ("learning_rate", "batch_size", "n_iter", "l2", "l1")

#: Every comparison of two mean accuracies follows the noise rule of
#: :mod:`fastsoftmax.experiments.stats` (:func:`~fastsoftmax.experiments.stats.clearly_better`).


def study_plan(n_train, n_iter=None, batch_size=None, learning_rate=None):
    """Base parameters and the five grids, scaled to ``n_train`` training samples.

    Parameters
    ----------
    n_train : int
        Training samples (after the validation split).
    n_iter : int, optional
        Base number of updates (default: the study's ~556 passes, clipped to 1,000..50,000).
    batch_size : int, optional
        Base batch (default: ``min(500, n_train // 4)``).
    learning_rate : float, optional
        Base learning rate; default ``None``: the best constant rate of the
        learning-rate analysis (see :func:`run_study`).

    Returns
    -------
    dict
        ``base`` (classifier parameters shared by all analyses) and ``analyses``:
        name -> ``{"grid": ..., "params": overrides of base, "title": ...}``.
    """
    batch = int(batch_size or max(1, min(STUDY_BATCH, n_train // 4)))
    updates = int(n_iter or min(STUDY_UPDATES, max(1000, round(STUDY_PASSES * n_train / batch))))
    base = {"batch_size": batch, "learning_rate": learning_rate, "lr_schedule": "constant",
            "n_iter": updates,
            "sampling": "replacement", "momentum": 0.0, "penalty": "l2",
            "alpha": STUDY_ALPHA}
    batches = [b for b in (16, 32, 64, 128, 256, 500, 1000, 2000, 5000) if b <= max(16, n_train // 2)]
    fractions = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2)
    n_iters = sorted({max(10, round(updates * f)) for f in fractions})
    return {
        "base": base,
        "analyses": {
            "batch_size": {"title": "Batch size", "params": {},
                           "grid": {"batch_size": batches}},
            "learning_rate": {"title": "Learning rate and schedule", "params": {},
                              "grid": {"learning_rate": [100.0, 10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5],
                                       "lr_schedule": ["constant", "step"]}},
            "n_iter": {"title": "Number of updates", "params": {}, "grid": {"n_iter": n_iters}},
            "l2": {"title": "L2 strength", "params": {"penalty": "l2"},
                   "grid": {"alpha": [1e-5, 1e-4, 1e-3, STUDY_ALPHA, 1e-2, 3e-2, 0.1,
                                      0.3, 1.0]}},
            "l1": {"title": "L1: proximal gradient against the subgradient",
                   "params": {"penalty": "l1"},
                   "grid": {"alpha": [1e-4, 1e-3, 1e-2],
                            "l1_method": ["proximal", "subgradient"]}},
        },
    }


def run_study(features, folder, plan, repeats=3, n_jobs=2, seed=0, progress=None, force=False,
              meta=None, plots=True, scheduler=None):
    """Run the five analyses into ``folder/<analysis>/`` and write the study report.

    Parameters
    ----------
    features : dict or list of dict
        From :func:`fastsoftmax.experiments.sweep.prepare_features`; a list of
        ``repeats`` of them (one validation split per seed, ``seed + k`` for the k-th)
        runs seed ``seed + k`` on the k-th, recorded as ``resplit`` in the results.
    folder : str
    plan : dict
        From :func:`study_plan`.
    repeats, n_jobs, seed : int
        As in :func:`~fastsoftmax.experiments.sweep.run_sweep`.
    progress : callable, optional
        ``progress("sweep", done, total, row=row)`` (:mod:`fastsoftmax._shared.progress`)
        after each run, counted over all analyses' runs.
    force : bool, default=False
        Replace a complete study already at ``folder``.
    meta : dict, optional
        Stored with every sweep (data name, sizes...).
    plots : bool, default=True
    scheduler : str or fastsoftmax.experiments.distributed.Cluster, optional
        Run the fits on this Dask cluster (as in
        :func:`~fastsoftmax.experiments.sweep.run_sweep`); give a ``Cluster`` so that the
        features are sent to the workers once for all five analyses.

    Returns
    -------
    dict
        ``findings`` (per analysis, the measured numbers and sentences) and ``report``
        (paths of ``report.md`` and ``report.html``).

    The whole study is built in a hidden folder beside ``folder`` and renamed into
    place when all five analyses and the report are written
    (:func:`~fastsoftmax.experiments.results.publishing`): ``folder`` holds a complete
    study or none.
    """
    if isinstance(features, (list, tuple)) and len(features) != repeats:
        raise ValueError(f"features: {len(features)} splits for {repeats} seeds; give one per seed")
    folder = check_study_folder(folder, force)
    with publishing(folder, force, complete=holds_complete_study) as stage:
        result = _run_study_into(features, stage, plan, repeats, n_jobs, seed, progress, meta,
                                 plots, scheduler)
    result["report"] = moved(result["report"], stage, folder)
    return result


def _run_study_into(features, folder, plan, repeats, n_jobs, seed, progress, meta, plots,
                    scheduler):
    resplit = isinstance(features, (list, tuple))
    totals = {name: count_runs(a["grid"], repeats) for name, a in plan["analyses"].items()}
    total = sum(totals.values())
    done = 0
    plan = json.loads(json.dumps(plan))
    lr_from_sweep = plan["base"]["learning_rate"] is None
    for name in RUN_ORDER:
        analysis = plan["analyses"][name]
        base = {**plan["base"], **analysis["params"]}
        if base["learning_rate"] is None:
            # the study's; only the learning-rate sweep sees it
            base["learning_rate"] = STUDY_LEARNING_RATE
        start = time.perf_counter()
        splits = features if resplit else [features]
        per_seed = [run_sweep(f["X_train"], f["y_train"], f["X_val"], f["y_val"], f["X_test"],
                              f["y_test"], analysis["grid"], base,
                              repeats=1 if resplit else repeats, n_jobs=n_jobs,
                              progress=shifted(progress, done + k * totals[name] // len(splits),
                                               total),
                              seed=seed + k, scheduler=scheduler)
                    for k, f in enumerate(splits)]
        rows = merge_seed_sweeps(per_seed) if resplit else per_seed[0]
        sub = os.path.join(folder, name)
        os.mkdir(sub)
        write_results(rows, sub, analysis["grid"],
                      {**(meta or {}), "title": analysis["title"], "base_params": base,
                       "repeats": repeats, "seed": seed, "n_jobs": n_jobs, "resplit": resplit,
                       "seconds": time.perf_counter() - start})
        if plots:
            make_plots(sub)
        done += totals[name]
        if name == "learning_rate" and lr_from_sweep:
            plan["base"]["learning_rate"] = best_constant_rate(rows)
            plan["base_learning_rate_from"] = "learning_rate analysis"
    atomic_write(os.path.join(folder, "study.json"),
                 json.dumps({**(meta or {}), "plan": plan, "repeats": repeats, "seed": seed,
                             "resplit": resplit, "analyses": list(ANALYSES)}, indent=2))
    report = write_study_report(folder)
    return {"findings": study_findings(folder), "report": report}


def check_study_folder(folder, force=False):
    """Check, before any work, that a study can be published at ``folder``
    (:func:`~fastsoftmax.experiments.results.check_output_folder` with
    :func:`holds_complete_study`); nothing is created.

    Returns
    -------
    str
        The folder, resolved (publish there).

    Raises
    ------
    ValueError
        ``folder`` is empty, or its name is too long.
    FileExistsError
        ``folder`` holds a complete study and not ``force``, holds files that are not
        results, is a file, or is the current folder or above it.
    PermissionError
        Nothing can be written where the folder is to be published.
    """
    return check_output_folder(folder, force, complete=holds_complete_study)


def holds_complete_study(folder):
    """Whether ``folder`` holds ``study.json`` and every analysis's complete results."""
    return (os.path.isfile(os.path.join(folder, "study.json"))
            and all(holds_complete_sweep(os.path.join(folder, name)) for name in ANALYSES))


def best_constant_rate(rows):
    """The constant learning rate with the best mean validation accuracy (the study's
    :data:`~fastsoftmax._shared.presets.STUDY_LEARNING_RATE` if none trained)."""
    const = [r for r in rows if r.get("lr_schedule", "constant") == "constant"]
    summary = [e for e in summarize(const, ["learning_rate"]) if not math.isnan(_acc(e))]
    return float(max(summary, key=_acc)["learning_rate"]) if summary else STUDY_LEARNING_RATE


# ---------------------------------------------------------------------- measurements
def curve_noise(curves, runs, start_fraction=0.5):
    """Minibatch-to-minibatch loss noise of runs: std of successive differences / sqrt(2),
    over the last half of each curve, averaged over the runs."""
    values = []
    for run in runs:
        if run not in curves:
            continue
        losses = curves[run][1]
        tail = losses[int(len(losses) * start_fraction):]
        if len(tail) > 2:
            values.append(float(np.std(np.diff(tail), ddof=1) / math.sqrt(2)))
    return float(np.mean(values)) if values else math.nan


def settle_point(updates, losses, within=0.05):
    """First update after which the smoothed loss stays within ``within`` (relative) of
    its final value; ``None`` for an empty curve."""
    if len(losses) < 3:
        return None
    window = max(1, len(losses) // 50)
    sm = smooth(losses, window)
    ups = updates[window - 1:]
    final = sm[-1]
    outside = np.nonzero(np.abs(sm - final) > within * abs(final))[0]
    index = 0 if len(outside) == 0 else min(outside[-1] + 1, len(sm) - 1)
    return int(ups[index])


def _pts(x):
    return f"{100 * x:.1f}"


def _analysis_batch(rows, curves, summary, base):
    best = max(summary, key=lambda e: _acc(e))
    plateau = None
    for i, entry in enumerate(summary):
        if not any(clearly_better(best, e) for e in summary[i:]):
            plateau = entry
            break
    noise = {e["batch_size"]: curve_noise(curves, [r["run"] for r in rows
                                                   if r["batch_size"] == e["batch_size"]
                                                   and not r["diverged"]]) for e in summary}
    sizes = [e["batch_size"] for e in summary]
    text = [f"With {base['n_iter']} updates each, validation accuracy goes from "
            f"{_acc(summary[0]):.4f} at batch {sizes[0]} to {_acc(summary[-1]):.4f} at batch "
            f"{sizes[-1]}; the best is {_acc(best):.4f} at batch {best['batch_size']}."]
    if plateau is not None and plateau is summary[0]:
        text.append(f"No batch size tried is clearly below the best (noise rule): over "
                    f"{sizes[0]}..{sizes[-1]}, batch size does not change accuracy here.")
    elif plateau is not None:
        text.append(f"From batch {plateau['batch_size']} on, no batch size is clearly below the "
                    f"best (noise rule): batch size stops mattering there.")
    first, last = noise[sizes[0]], noise[sizes[-1]]
    if not (math.isnan(first) or math.isnan(last)):
        text.append(f"Larger batches give steadier curves: the update-to-update loss noise "
                    f"(second half of training) falls from {first:.4f} at batch {sizes[0]} to "
                    f"{last:.4f} at batch {sizes[-1]} ({first / last:.1f}x)." if last < first else
                    f"The update-to-update loss noise is {first:.4f} at batch {sizes[0]} and "
                    f"{last:.4f} at batch {sizes[-1]}.")
    numbers = {"plateau_batch_size": plateau["batch_size"] if plateau else None,
               "best_batch_size": best["batch_size"], "best_val_accuracy": _acc(best),
               "loss_noise": noise}
    return text, numbers


def _analysis_lr(rows, curves, summary, base):
    rates = list(dict.fromkeys(e["learning_rate"] for e in summary))
    by = {(e["learning_rate"], e["lr_schedule"]): e for e in summary}
    diverged = [r for r in rates if any(by[(r, s)]["diverged"] for s in ("constant", "step")
                                        if (r, s) in by)]
    ok = [e for e in summary if not math.isnan(_acc(e))]
    best = max(ok, key=_acc) if ok else None
    text = []
    if diverged:
        text.append("Training diverged (the loss became non-finite) at learning rate "
                    + ", ".join(fmt_value(r) for r in diverged) + " ("
                    + "; ".join(f"{fmt_value(r)}: {by[(r, 'constant')]['diverged']}/"
                                f"{by[(r, 'constant')]['runs']} constant, "
                                f"{by[(r, 'step')]['diverged']}/{by[(r, 'step')]['runs']} step"
                                for r in diverged) + " runs).")
    unstable = [r for r in rates if r not in diverged
                and any(by[(r, s)].get("unstable") for s in ("constant", "step") if (r, s) in by)]
    if unstable:
        text.append("Unstable (the final loss ends above the loss before the first update) at "
                    "learning rate " + ", ".join(fmt_value(r) for r in unstable) + " ("
                    + "; ".join(f"{fmt_value(r)} {s}: final loss {by[(r, s)]['final_loss_mean']:.2f} "
                                f"against {by[(r, s)]['start_loss_mean']:.2f} at the start"
                                for r in unstable for s in ("constant", "step")
                                if (r, s) in by and by[(r, s)].get("unstable")) + ").")
    if not diverged:
        text.append(f"No learning rate up to {fmt_value(max(rates))} diverged or ended above "
                    f"its starting loss on these features." if not unstable else
                    "None diverged (the loss stayed finite).")
    slow = []
    if best is not None:
        text.append(f"The best is {describe(best, ['learning_rate', 'lr_schedule'])}: validation "
                    f"accuracy {_acc(best):.4f}.")
        const = [(r, by[(r, "constant")]) for r in rates if (r, "constant") in by]
        best_const = max((e for _, e in const if not math.isnan(_acc(e))), key=_acc, default=None)
        if best_const is not None:
            slow = [r for r, e in const if r < best_const["learning_rate"]
                    and not math.isnan(_acc(e)) and clearly_better(best, e)]
        if slow:
            text.append(f"Too slow within {base['n_iter']} updates (constant rate, clearly below "
                        f"the best by the noise rule): "
                        + ", ".join(f"{fmt_value(r)} ({_acc(by[(r, 'constant')]):.4f}, final loss "
                                    f"{by[(r, 'constant')]['final_loss_mean']:.3f})" for r in slow) + ".")
    gains = [(r, _acc(by[(r, "step")]) - _acc(by[(r, "constant")])) for r in rates
             if (r, "step") in by and (r, "constant") in by
             and not math.isnan(_acc(by[(r, "step")]) - _acc(by[(r, "constant")]))]
    better = [r for r, _ in gains if clearly_better(by[(r, "step")], by[(r, "constant")])]
    worse = [r for r, _ in gains if clearly_better(by[(r, "constant")], by[(r, "step")])]
    if gains:
        rates_text = lambda rs: f" ({', '.join(fmt_value(r) for r in rs)})" if rs else ""  # noqa: E731
        text.append(f"Step decay (halving every {max(1, base['n_iter'] // 5)} updates) changed "
                    f"validation accuracy by {_pts(min(g for _, g in gains))} to "
                    f"{_pts(max(g for _, g in gains))} points (mean {_pts(np.mean([g for _, g in gains]))}); "
                    f"beyond noise it helped at {len(better)} of {len(gains)} rates{rates_text(better)} "
                    f"and hurt at {len(worse)}{rates_text(worse)}; at the other "
                    f"{len(gains) - len(better) - len(worse)} the difference is within noise.")
    if best is not None:
        text += grid_edge_sentences(best, {"learning_rate": rates})
    numbers = {"diverged": diverged, "unstable": unstable, "too_slow": slow,
               "best": None if best is None else {"learning_rate": best["learning_rate"],
                                                  "lr_schedule": best["lr_schedule"],
                                                  "val_accuracy": _acc(best)},
               "step_gain": {fmt_value(r): g for r, g in gains},
               "step_helped": better, "step_hurt": worse}
    return text, numbers


def _analysis_iter(rows, curves, summary, base):
    longest = summary[-1]
    final = _acc(longest)
    reached = next((e for e in summary if not clearly_better(longest, e)), longest)
    run = next((r["run"] for r in rows if r["n_iter"] == longest["n_iter"] and not r["diverged"]
                and r["run"] in curves), None)
    text = [f"Validation accuracy is {_acc(summary[0]):.4f} after {summary[0]['n_iter']} updates and "
            f"{final:.4f} after {longest['n_iter']}; from {reached['n_iter']} updates on it is not "
            f"clearly below the longest run (noise rule)."]
    numbers = {"matches_longest_from": reached["n_iter"], "longest_val_accuracy": final}
    if run is not None:
        updates, losses = curves[run]
        settle = settle_point(updates, losses)
        n = len(losses)
        quarter = losses[int(n * 0.75):]
        third = losses[int(n * 0.5):int(n * 0.75)]
        early = losses[: max(1, n // 10)]
        change = (third.mean() - quarter.mean()) / abs(third.mean())
        flat = change < 0.02
        text.append(f"The loss of the longest run falls from {early.mean():.3f} (first 10% of "
                    f"updates) to {quarter.mean():.3f} (last 25%); it stays within 5% of its final "
                    f"value from update {settle} on ({100 * settle / longest['n_iter']:.0f}% of the "
                    f"run) and drops {100 * change:.1f}% from the third to the last quarter: "
                    + ("the curve has flattened." if flat else
                       "it is still falling, so more updates would still help."))
        numbers.update(settle_update=settle, loss_start=float(early.mean()),
                       loss_end=float(quarter.mean()), last_quarter_drop=float(change),
                       flattened=bool(flat))
    return text, numbers


def _analysis_l2(rows, curves, summary, base):
    best = max((e for e in summary if not math.isnan(_acc(e))), key=_acc)
    lowest = summary[0]
    highest = summary[-1]
    text = [f"The best L2 strength is alpha = {fmt_value(best['alpha'])} (validation accuracy "
            f"{_acc(best):.4f}, test {best['test_accuracy_mean']:.4f}); in the study's units "
            f"(against the summed loss of a batch of {base['batch_size']}) that is "
            f"{best['alpha'] * base['batch_size']:.3g}, against the study's {STUDY_L2}.",
            f"alpha = {fmt_value(lowest['alpha'])} gives {_acc(lowest):.4f} and alpha = "
            f"{fmt_value(highest['alpha'])} gives {_acc(highest):.4f}."]
    ties = [e for e in summary if e is not best and not math.isnan(_acc(e))
            and not clearly_better(best, e)]
    if ties:
        text.append("Within noise of the best (noise rule): alpha = "
                    + ", ".join(fmt_value(e["alpha"]) for e in ties) + ".")
    text += grid_edge_sentences(best, {"alpha": [e["alpha"] for e in summary]})
    if best is lowest:
        text.append("The best is the weakest penalty tried: this setup barely needs L2.")
    return text, {"best_alpha": best["alpha"], "best_val_accuracy": _acc(best),
                  "best_alpha_study_units": best["alpha"] * base["batch_size"]}


def _analysis_l1(rows, curves, summary, base):
    by = {(e["l1_method"], e["alpha"]): e for e in summary}
    alphas = list(dict.fromkeys(e["alpha"] for e in summary))
    text, table = [], {}
    for a in alphas:
        p, s = by.get(("proximal", a)), by.get(("subgradient", a))
        if p is None or s is None:
            continue
        table[fmt_value(a)] = {"proximal_zero_fraction": p["zero_fraction_mean"],
                               "subgradient_zero_fraction": s["zero_fraction_mean"],
                               "proximal_val_accuracy": _acc(p), "subgradient_val_accuracy": _acc(s),
                               "proximal_final_loss": p["final_loss_mean"],
                               "subgradient_final_loss": s["final_loss_mean"]}
        text.append(f"At alpha = {fmt_value(a)}, proximal L1 made {100 * p['zero_fraction_mean']:.1f}% "
                    f"of W exactly zero against {100 * s['zero_fraction_mean']:.1f}% for the "
                    f"subgradient (validation accuracy {_acc(p):.4f} against {_acc(s):.4f}, "
                    + ("a difference beyond noise" if clearly_differs(p, s) else "within noise")
                    + f"; final loss {p['final_loss_mean']:.3f} against {s['final_loss_mean']:.3f}).")
    noise = {m: curve_noise(curves, [r["run"] for r in rows if r["l1_method"] == m
                                     and r["alpha"] == alphas[-1] and not r["diverged"]])
             for m in ("proximal", "subgradient")}
    if not any(math.isnan(v) for v in noise.values()):
        ratio = noise["subgradient"] / noise["proximal"] if noise["proximal"] > 0 else math.nan
        text.append(f"At alpha = {fmt_value(alphas[-1])} the update-to-update loss noise is "
                    f"{noise['subgradient']:.4f} with the subgradient and {noise['proximal']:.4f} "
                    f"with the proximal step"
                    + (f" ({ratio:.2f}x)." if math.isfinite(ratio) and abs(ratio - 1) > 0.1
                       else " (about equal)."))
    sub_zero = max((v["subgradient_zero_fraction"] for v in table.values()), default=math.nan)
    if table and sub_zero == 0:
        text.append("The subgradient never set a weight exactly to zero: its sign step makes "
                    "small weights oscillate around zero rather than reach it.")
    return text, {"by_alpha": table, "loss_noise": noise}


_ANALYZERS = {"batch_size": _analysis_batch, "learning_rate": _analysis_lr,
              "n_iter": _analysis_iter, "l2": _analysis_l2, "l1": _analysis_l1}


def _acc(entry):
    return entry["val_accuracy_mean"]


def study_findings(folder):
    """Measured numbers and generated sentences of each analysis in a study folder.

    Returns
    -------
    dict
        analysis -> ``{"text": [sentences], "numbers": {...}}``.
    """
    findings = {}
    for name in ANALYSES:
        sub = os.path.join(folder, name)
        if not os.path.exists(os.path.join(sub, "results.json")):
            continue
        payload, curves = load_results(sub)
        names = list(payload["grid"])  # single-valued ones too: the analyses read them
        summary = summarize(payload["rows"], names)
        if all(math.isnan(_acc(e)) for e in summary):
            findings[name] = {"text": ["Every run diverged."], "numbers": {}}
            continue
        try:
            text, numbers = _ANALYZERS[name](payload["rows"], curves, summary,
                                             payload.get("base_params") or {})
        except (KeyError, TypeError, IndexError, ValueError) as exc:  # a hand-edited file
            raise ResultsFileError(
                f"{os.path.join(sub, 'results.json')}: not the results of the study's {name!r} "
                f"analysis ({type(exc).__name__}: {exc})") from None
        findings[name] = {"text": text, "numbers": numbers}
    return findings


#: A ``study.json`` larger than this is refused.
MAX_STUDY_BYTES = 1 << 20


def read_study_json(folder):
    """Read and check a study folder's ``study.json`` (untrusted: bounded size and depth,
    the shape the study writes).

    Raises
    ------
    FileNotFoundError
        No ``study.json``.
    fastsoftmax.experiments.results.ResultsFileError
        Too large, not JSON, or of the wrong shape; the message names the file.
    """
    path = os.path.join(folder, "study.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{str(folder)!r} holds no study (study.json)")
    study = read_json_file(path, max_bytes=MAX_STUDY_BYTES, error=ResultsFileError)

    def fail(message):
        raise ResultsFileError(f"{path}: {message}")

    if not isinstance(study, dict):
        fail(f"a JSON {type(study).__name__}, expected an object with 'plan' and 'repeats'")
    plan = study.get("plan")
    if not isinstance(plan, dict) or not isinstance(plan.get("base"), dict):
        fail("'plan' is not an object with a 'base' object")
    analyses = plan.get("analyses")
    if not isinstance(analyses, dict):
        fail("'plan' has no 'analyses' object")
    for name in ANALYSES:
        entry = analyses.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("title"), str):
            fail(f"analysis {name!r} is missing or has no title")
    for key, value in plan["base"].items():
        if not (value is None or isinstance(value, (str, int, float))):
            fail(f"base parameter {key!r} is a {type(value).__name__}")
    repeats = study.get("repeats")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        fail("'repeats' is not a positive integer")
    for key, types in (("sizes", dict), ("data", str)):
        if study.get(key) is not None and not isinstance(study[key], types):
            fail(f"{key!r} is a {type(study[key]).__name__}")
    return study


def study_document(folder, replot=False):
    """The study report of ``folder`` as a :class:`~fastsoftmax.experiments.report.Document`."""
    study = read_study_json(folder)
    findings = study_findings(folder)
    doc = Document(f"The study's analyses on {study.get('data', 'the data')}")
    base = dict(study["plan"]["base"])
    if study["plan"].get("base_learning_rate_from"):
        base["learning_rate"] = f"{fmt_value(base['learning_rate'])} (best constant rate of the learning-rate analysis)"
    sizes = study.get("sizes", {})
    doc.paragraph(
        f"Data `{study.get('data')}`: {sizes.get('train', '?')} training, {sizes.get('val', '?')} "
        f"validation (held out of the training images, stratified) and {sizes.get('test', '?')} "
        f"test samples; {features_phrase(sizes)}. Every analysis varies one or two hyperparameters around the base setup "
        f"and fits {study['repeats']} seed(s) per configuration; accuracies are means over seeds.")
    doc.bullets(["base setup (the study's, scaled to the data): "
                 + ", ".join(f"`{k}={fmt_value(v)}`" for k, v in base.items()),
                 f"comparisons of two means follow one noise rule: {NOISE_RULE}"])
    doc.heading("Summary")
    doc.bullets([f"**{study['plan']['analyses'][n]['title']}.** " + " ".join(findings[n]["text"])
                 for n in ANALYSES if n in findings])
    for name in ANALYSES:
        sub = os.path.join(folder, name)
        if name not in findings:
            continue
        payload, _ = load_results(sub)
        grid = payload["grid"]
        names = [n for n in grid if len(grid[n]) > 1] or list(grid)
        doc.heading(study["plan"]["analyses"][name]["title"])
        doc.bullets(setup_bullets(payload)[1:])
        for sentence in findings[name]["text"]:
            doc.paragraph(sentence)
        doc.table(*summary_table(summarize(payload["rows"], names), names))
        plots = make_plots(sub) if replot else {
            k: os.path.join(sub, f"{k}.png") for k in ("loss_curves", "accuracy", "heatmap",
                                                       "zero_fraction")
            if os.path.exists(os.path.join(sub, f"{k}.png"))}
        for key, path in plots.items():
            doc.image(path, f"{study['plan']['analyses'][name]['title']}: {key.replace('_', ' ')}")
    return doc


def write_study_report(folder, replot=False):
    """Write ``report.md`` and ``report.html`` of a study folder; returns their paths."""
    return write_document(study_document(folder, replot), folder)
