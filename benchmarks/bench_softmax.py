"""Speed of the softmax kernels (issue #2): loss + gradient, one SGD step, the training
loop (per update, same batches), and time to accuracy against scikit-learn's lbfgs.

Cases from :mod:`fastsoftmax.bench`: softmax_loss_grad, softmax_loss_grad_torch, sgd_step, sgd_loop, sgd_loop_torch, fit_vs_lbfgs.  See ``benchmarks/conftest.py``.
"""
import pytest

from conftest import check_target, run_side, sides

CASES = ['softmax_loss_grad', 'softmax_loss_grad_torch', 'sgd_step', 'sgd_loop', 'sgd_loop_torch', 'fit_vs_lbfgs']


@pytest.mark.parametrize("name, side", [(n, s) for n in CASES for s in sides(n)])
def test_softmax(benchmark, name, side):
    run_side(benchmark, name, side)


def test_sgd_loop_target():
    """Issue target: 2.5x (full sizes only; from this run's medians)."""
    check_target("sgd_loop")


def test_sgd_loop_torch_target():
    """Issue target: 3x (full sizes only; from this run's medians)."""
    check_target("sgd_loop_torch")


def test_fit_vs_lbfgs_target():
    """Issue target: 5x (full sizes only; from this run's medians)."""
    check_target("fit_vs_lbfgs")
