"""The gallery's examples (``examples/plot_*.py``) run without Sphinx and each draws one
figure with data on every axis; the documentation build (``.ci/run``) runs them again.
"""
import runpy
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_the_gallery_has_examples():
    assert [path.name for path in EXAMPLES] == [
        "plot_hog.py", "plot_learning_rate_sweep.py", "plot_loss_curve.py",
        "plot_model_weights.py"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs_and_draws(path, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path))
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    runpy.run_path(str(path), run_name="__main__")
    try:
        figures = [plt.figure(number) for number in plt.get_fignums()]
        assert len(figures) == 1
        assert all(ax.has_data() for ax in figures[0].axes)
    finally:
        plt.close("all")
