"""The library keeps the command line's promises when saving.

``save()`` writes only a model that loads back (the load-side check, run before
writing, and the bounds loading sets) and never replaces a file unless
``overwrite=True``; ``train`` passes its ``--force``.
"""
import os
import re

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.model.classifier import SoftmaxClassifier
from fastsoftmax.cli import main
from fastsoftmax.data import load_digits_images
from fastsoftmax.model.loading import load_model
from fastsoftmax.io.model_file import ModelFileError, save_arrays
from fastsoftmax.model.pipeline import ImagePipeline


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def digits():
    data = load_digits_images()
    return data.X_train[:400], data.y_train[:400], data.class_names


def _pipe(digits, n_iter=20, seed=0):
    X, y, names = digits
    return ImagePipeline(SoftmaxClassifier(n_iter=n_iter, random_state=seed),
                         class_names=names).fit(X, y)


# ============================================================================ consistency
def test_save_refuses_steps_that_no_longer_fit_and_writes_nothing(digits, tmp_path):
    pipe = _pipe(digits)
    other = np.random.default_rng(0).integers(0, 256, (60, 16, 16), dtype=np.uint8)
    pipe.fit_features(other)  # new feature step and PCA; the classifier is the old one
    n_in, n_pca = pipe.classifier_.n_features_in_, pipe.pca_.n_components_
    assert n_in != n_pca
    path = tmp_path / "m.npz"
    reason = f"the classifier takes {n_in} features but the PCA gives {n_pca}"
    with pytest.raises(ValueError, match=(rf"^cannot save '{re.escape(str(path))}': it would "
                                          rf"not load back: {reason}$")):
        pipe.save(path)
    assert listing(tmp_path) == []
    # the reason is the loader's own: the same content written unchecked is refused so
    save_arrays(path, "ImagePipeline", *pipe.to_arrays())
    with pytest.raises(ModelFileError, match=rf"^'{re.escape(str(path))}': {reason}$"):
        load_model(path)
    assert pipe.training_files_ is None  # fit_features forgets the files of the last fit


def test_save_after_a_full_fit_loads_back(digits, tmp_path):
    X, y, _ = digits
    pipe = _pipe(digits)
    pipe.fit_features(np.random.default_rng(0).integers(0, 256, (60, 16, 16), dtype=np.uint8))
    pipe.fit(X, y)
    pipe.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "m.npz").predict_proba(X),
                                  pipe.predict_proba(X))


def test_save_of_an_unregistered_feature_step_is_checked_with_its_class(tmp_path):
    from test_pipeline_cli import CellMeans

    data = load_digits_images()
    X, y = data.X_train[:100], data.y_train[:100]
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=10, random_state=0), features=CellMeans(),
                         pca_variance=None).fit(X, y)
    pipe.save(tmp_path / "cells.npz")  # registering it is for whoever loads the file
    pipe.classifier_.coef_ = pipe.classifier_.coef_[:, :3]
    with pytest.raises(ValueError, match=r"it would not load back: classifier: coef_ has shape "
                                         r"\(10, 3\) but 10 classes and 16 features need"):
        pipe.save(tmp_path / "broken.npz")
    assert listing(tmp_path) == ["cells.npz"]


@pytest.mark.parametrize("bound, value, problem", [
    ("MAX_MODEL_BYTES", 50_000, r"its arrays hold about [\d,]+ bytes, more than 50,000"),
    ("MAX_METADATA_BYTES", 500, r"its metadata is [\d,]+ bytes of JSON, more than 500"),
])
def test_save_refuses_a_file_over_the_bounds_loading_sets(digits, tmp_path, monkeypatch, bound,
                                                          value, problem):
    from fastsoftmax.io import model_file as persistence

    monkeypatch.setattr(persistence, bound, value)
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match=(rf"^cannot save '{re.escape(str(path))}': {problem}; "
                                          r"the file would not load back$")):
        _pipe(digits).save(path)
    assert listing(tmp_path) == []


# ============================================================================ overwrite
@pytest.mark.parametrize("kind", ["pipeline", "classifier"])
def test_save_refuses_to_overwrite_unless_asked(digits, tmp_path, kind):
    first, second = _pipe(digits, seed=0), _pipe(digits, n_iter=30, seed=1)
    if kind == "classifier":
        first, second = first.classifier_, second.classifier_
    path = tmp_path / "m.npz"
    first.save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=(rf"^'{re.escape(str(path))}' already exists; "
                                               r"pass overwrite=True to replace it$")):
        second.save(path)
    assert path.read_bytes() == before and listing(tmp_path) == ["m.npz"]
    second.save(path, overwrite=True)
    coef = load_model(path)
    coef = coef.classifier_.coef_ if kind == "pipeline" else coef.coef_
    expected = second.classifier_.coef_ if kind == "pipeline" else second.coef_
    np.testing.assert_array_equal(coef, expected)
    assert listing(tmp_path) == ["m.npz"]


def test_save_refuses_a_dangling_link_too(digits, tmp_path):
    link = tmp_path / "link.npz"
    os.symlink(tmp_path / "nowhere", link)
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        _pipe(digits).save(link)
    assert listing(tmp_path) == ["link.npz"] and not (tmp_path / "nowhere").exists()


def test_a_file_written_meanwhile_is_not_replaced(digits, tmp_path, monkeypatch):
    pipe = _pipe(digits)
    path = tmp_path / "m.npz"
    real_savez = np.savez

    def savez_while_another_writes(handle, **payload):
        path.write_bytes(b"theirs")
        real_savez(handle, **payload)

    monkeypatch.setattr(np, "savez", savez_while_another_writes)
    with pytest.raises(FileExistsError, match=(rf"^'{re.escape(str(path))}' already exists "
                                               r"\(written meanwhile\?\); nothing was "
                                               r"replaced$")):
        pipe.save(path)
    assert path.read_bytes() == b"theirs" and listing(tmp_path) == ["m.npz"]


def test_train_model_written_during_the_work_is_not_replaced_without_force(tmp_path,
                                                                           monkeypatch):
    path = tmp_path / "m.npz"
    real_fit = ImagePipeline.fit

    def fit_while_another_writes(self, *args, **kwargs):
        path.write_bytes(b"theirs")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(ImagePipeline, "fit", fit_while_another_writes)
    result = CliRunner().invoke(main, ["train", "-q", "--n-iter", "5", "-o", str(path)])
    assert result.exit_code == 2
    assert result.output == f"Error: --model: {str(path)!r} already exists; add --force to overwrite it\n"
    assert path.read_bytes() == b"theirs" and listing(tmp_path) == ["m.npz"]
    forced = CliRunner().invoke(main, ["train", "-q", "--n-iter", "5", "-o", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert isinstance(load_model(path), ImagePipeline)
