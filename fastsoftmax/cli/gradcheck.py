"""``fastsoftmax gradcheck``: the analytic softmax gradient against finite differences."""
import click

from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.dataset_options import data_option
from fastsoftmax.cli.folders import image_size_option
from fastsoftmax.cli.options import FiniteFloatRange, json_option, seed_option
from fastsoftmax.cli.output import echo, echo_json, echo_lines

#: Slice of dW (classes x features, as ``coef_``) printed in text mode.
SHOW_ROWS, SHOW_COLS = 3, 4


@click.command("gradcheck")
@data_option
@image_size_option
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True,
              help="Number of images in the batch (drawn at random with --seed).")
@click.option("--features", type=click.IntRange(min=1), default=None,
              help="Use the first N pixel columns of the flattened images. Default: all.")
@click.option("--penalty", type=click.Choice(["none", "l2", "l1", "elasticnet"]),
              default="none", show_default=True, help="Weight penalty added to the loss.")
@click.option("--alpha", type=FiniteFloatRange(0), default=0.01, show_default=True,
              help="Penalty strength (ignored with --penalty none).")
@click.option("--l1-ratio", type=FiniteFloatRange(0, 1), default=0.15, show_default=True,
              help="Elastic-net mixing (with --penalty elasticnet).")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numba",
              show_default=True, help="Which implementation gives the analytic gradient.")
@click.option("--h", "h", type=FiniteFloatRange(0, min_open=True), default=1e-5, show_default=True,
              help="Step added to each weight for the numerical gradient.")
@click.option("--method", type=click.Choice(["central", "forward"]), default="central",
              show_default=True,
              help="Central differences, or the study's forward differences (error O(h)).")
@click.option("--threshold", type=FiniteFloatRange(0, min_open=True), default=1e-6, show_default=True,
              help="Fail (exit 1) when the maximum relative error is above this.")
@click.option("--sparse", "n_sparse", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also check K weights chosen at random, one at a time (as CS231n's "
                   "grad_check_sparse; at most 100,000).")
@seed_option
@json_option
@click.pass_context
@handle_errors
def gradcheck(ctx, data, image_size, batch_size, features, penalty, alpha, l1_ratio, backend, h, method,
              threshold, n_sparse, seed, as_json):
    """Check the analytic softmax gradient against a finite-difference one.

    The numerical gradient (of the mean cross-entropy plus the penalty, with respect to
    every entry of W and b) comes from the Cython kernel.  Data: scikit-learn's digits
    (pixels / 16), or --data, whose images are flattened and scaled to 0..1 (/ 255);
    a random batch of --batch-size images and the first --features pixel columns.
    W is drawn as 0.01 * N(0, 1) and b as 0.1 * N(0, 1) with --seed.

    Prints a slice of both gradients, the maximum relative error
    |a - n| / max(|a| + |n|, tiny) and the summed absolute difference.  With an L1
    part, entries with |W| < h (the kink) are left out of both and counted.
    Exit code 0 when the error is within --threshold, 1 when above, 2 for bad input.
    """
    from fastsoftmax.model.gradcheck import MAX_SPARSE, check_gradient, check_gradient_sparse, gradcheck_problem

    if n_sparse > MAX_SPARSE:
        raise InputError(f"--sparse {n_sparse} is more than {MAX_SPARSE:,} coordinates; the "
                         "full check already covers every entry")

    problem = gradcheck_problem(data, batch_size, features, seed, image_size=image_size)
    X, y, W, b = problem.X, problem.y, problem.W, problem.b
    result = check_gradient(W, b, X, y, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                            h=h, backend=backend, method=method)
    sparse = None
    if n_sparse:
        sparse = check_gradient_sparse(W, b, X, y, k=n_sparse, penalty=penalty, alpha=alpha,
                                       l1_ratio=l1_ratio, h=h, backend=backend,
                                       method=method, seed=problem.rng)
    failed = [f"max relative error {result.max_relative_error:.3g} is above the threshold "
              f"{threshold:g}"] if not result.passed(threshold) else []
    if sparse is not None and not sparse.passed(threshold):
        failed.append(f"sparse check: max relative error {sparse.max_relative_error:.3g} "
                      f"is above the threshold {threshold:g}")
    worst = result.worst_entry()
    sl = (slice(0, SHOW_ROWS), slice(0, SHOW_COLS))
    payload = {
        "data": problem.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_classes": int(problem.n_classes),
        "penalty": penalty,
        "alpha": alpha if penalty != "none" else 0.0,
        "l1_ratio": l1_ratio,
        "backend": backend,
        "method": method,
        "h": h,
        "seed": seed,
        "threshold": threshold,
        "max_relative_error": result.max_relative_error,
        "sum_abs_difference": result.sum_abs_difference,
        "n_checked": result.n_checked,
        "n_kink": result.n_kink,
        "worst": {"param": worst[0], "index": list(worst[1])},
        "passed": not failed,
        "analytic_W_slice": result.analytic_W[sl],
        "numerical_W_slice": result.numerical_W[sl],
    }
    if sparse is not None:
        payload["sparse"] = {
            "k": n_sparse,
            "max_relative_error": sparse.max_relative_error,
            "sum_abs_difference": sparse.sum_abs_difference,
            "n_kink": sparse.n_kink,
            "passed": sparse.passed(threshold),
        }
    if as_json:
        echo_json(payload)
    else:
        _print_text(result, sparse, payload)
        for reason in failed:
            echo(f"FAIL: {reason}")
        if not failed:
            echo("PASS")
    if failed:
        ctx.exit(1)


def _print_text(result, sparse, p):
    import numpy as np

    alpha = f", alpha {p['alpha']:g}" if p["penalty"] != "none" else ""
    echo(f"Gradient check on {p['data']}: {p['n_samples']} samples x {p['n_features']} "
               f"features, {p['n_classes']} classes; penalty {p['penalty']}{alpha}; "
               f"analytic: {p['backend']}; {p['method']} differences, h = {p['h']:g}")
    with np.printoptions(precision=8, suppress=False, linewidth=100):
        r, c = p["analytic_W_slice"].shape
        echo_lines(f"analytic dW[:{r}, :{c}]:\n{p['analytic_W_slice']}")
        echo_lines(f"numerical dW[:{r}, :{c}]:\n{p['numerical_W_slice']}")
    kink = (f"; {result.n_kink} entries within h of the L1 kink left out"
            if result.n_kink else "")
    worst = p["worst"]
    echo(f"max relative error:    {result.max_relative_error:.3e}  "
               f"(over {result.n_checked} entries of W and b, worst {worst['param']}"
               f"{worst['index']}{kink})")
    echo(f"summed abs difference: {result.sum_abs_difference:.3e}")
    if sparse is not None:
        echo(f"sparse check ({len(sparse.rows)} random coordinates): max relative error "
                   f"{sparse.max_relative_error:.3e}, summed abs difference "
                   f"{sparse.sum_abs_difference:.3e}")
