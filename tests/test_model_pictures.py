"""``fastsoftmax show`` and :mod:`fastsoftmax.plots.model_pictures`: the glyphs drawn are
the weights' orientations, checked against known-answer weights and scikit-image's HOG."""
import os

import numpy as np
import pytest
from click.testing import CliRunner

from sklearn.datasets import load_digits
from small_kmeans import SMALL

from fastsoftmax.cli import main
from fastsoftmax.features.learned import KMeansFeatures
from fastsoftmax.features.batch_hog import hog
from fastsoftmax.model.classifier import SoftmaxClassifier
from fastsoftmax.model.pca import VariancePCA
from fastsoftmax.model.scaling import FeatureScaler
from fastsoftmax.model.pipeline import ImagePipeline
from fastsoftmax.plots import (class_filters, confident_examples, dictionary_order,
                               draw_confident_examples, draw_hog_weights, draw_kmeans_weights,
                               hog_cell_weights, plot_hog_weights, plot_model_weights, pyplot)

# the digits' HOG: 8x8 images, 2x2-pixel cells (4x4 cells), 2x2-cell blocks (3x3 blocks), 9 bins
SHAPE, CELLS, BLOCKS, BINS = (8, 8), (4, 4), (3, 3), 9


@pytest.fixture(scope="module")
def pipe():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, *SHAPE), dtype=np.uint8)
    y = np.arange(60) % 3
    return ImagePipeline(SoftmaxClassifier(n_iter=2, batch_size=20), pca_variance=None,
                         class_names=["a", "b", "c"]).fit(images, y)


def _hog_weights(bin_for_class):
    """HOG-space weights: class k is +1 on orientation bin ``bin_for_class[k]`` in every
    block, 0 elsewhere."""
    weights = np.zeros((len(bin_for_class), *BLOCKS, 2, 2, BINS))
    for k, b in enumerate(bin_for_class):
        weights[k, ..., b] = 1.0
    return weights.reshape(len(bin_for_class), -1)


def _set_weights(pipe, hog_weights, seed=1):
    """Put ``hog_weights`` behind a random orthogonal PCA and a standardization."""
    n = hog_weights.shape[1]
    rng = np.random.default_rng(seed)
    components = np.linalg.qr(rng.normal(size=(n, n)))[0].T
    scale = rng.uniform(0.5, 2.0, size=n)
    pipe.pca_ = VariancePCA()
    pipe.pca_.components_ = components.astype(np.float32)
    pipe.scaler_ = FeatureScaler()
    pipe.scaler_.scale_ = scale.astype(np.float32)
    # score = coef @ C @ ((x - m) / s): HOG-space weights (coef @ C) / s
    pipe.classifier_.coef_ = ((hog_weights * scale) @ components.T).astype(np.float32)
    return pipe


def _panels(fig):
    axes = [ax for ax in fig.axes if ax.collections]
    return {ax.get_title(): ax.collections[0] for ax in axes}


def _strongest_directions(collection, tol=1e-3):
    """Unit (x, y) directions of the most opaque segments of a panel."""
    segments = np.asarray(collection.get_segments())
    alpha = collection.get_colors()[:, 3]
    strong = alpha >= alpha.max() - tol
    d = segments[strong, 1] - segments[strong, 0]
    return d / np.linalg.norm(d, axis=1, keepdims=True), alpha


def test_cell_weights_sum_each_cell_over_its_blocks(pipe):
    _set_weights(pipe, _hog_weights([0, 4, 8]))
    cells = hog_cell_weights(pipe)
    assert cells.shape == (3, *CELLS, BINS)
    covering = np.array([1, 2, 2, 1])  # blocks covering a cell along one axis
    np.testing.assert_allclose(cells[1, ..., 4], np.outer(covering, covering), atol=1e-4)
    np.testing.assert_allclose(np.delete(cells[1], 4, axis=-1), 0, atol=1e-4)


@pytest.mark.parametrize("b", [0, 4, 8])
def test_glyph_points_along_the_edge_of_the_favoured_bin(pipe, b):
    _set_weights(pipe, _hog_weights([b, (b + 3) % BINS, (b + 6) % BINS]))
    fig = draw_hog_weights(pipe)
    try:
        panels = _panels(fig)
        assert set(panels) == {"a +", "a \u2212", "b +", "b \u2212", "c +", "c \u2212"}
        directions, alpha = _strongest_directions(panels["a +"])
        # bin b's centre is (b + 0.5) * 180 / 9 degrees; as scikit-image draws it, the
        # glyph runs along the edge, perpendicular to the gradient: (x, y) = (-sin, cos)
        angle = np.pi * (b + 0.5) / BINS
        expected = np.array([-np.sin(angle), np.cos(angle)])
        np.testing.assert_allclose(np.abs(directions @ expected), 1, atol=1e-6)
        assert len(directions) == 4  # the four middle cells, covered by 4 blocks each
        assert np.count_nonzero(alpha > 1e-4) == 16  # one glyph per cell, only of bin b
        # the negative panel of a class with no negative weight is blank
        assert np.all(panels["a \u2212"].get_colors()[:, 3] < 1e-5)
    finally:
        pyplot().close(fig)


def test_negative_weights_go_to_their_own_panel(pipe):
    _set_weights(pipe, -_hog_weights([2, 2, 2]))
    fig = draw_hog_weights(pipe)
    try:
        panels = _panels(fig)
        assert np.all(panels["b +"].get_colors()[:, 3] < 1e-5)
        directions, _ = _strongest_directions(panels["b \u2212"])
        angle = np.pi * 2.5 / BINS
        np.testing.assert_allclose(np.abs(directions @ [-np.sin(angle), np.cos(angle)]), 1,
                                   atol=1e-6)
    finally:
        pyplot().close(fig)


def test_glyph_of_a_vertical_edge_is_vertical(pipe):
    """Independent of the bin convention: weights = the HOG of a vertical edge image."""
    edge = np.zeros((1, *SHAPE))
    edge[:, :, 4:] = 1.0
    features = hog(edge, orientations=BINS, pixels_per_cell=(2, 2), cells_per_block=(2, 2))
    _set_weights(pipe, np.repeat(features, 3, axis=0).astype(np.float64))
    fig = draw_hog_weights(pipe)
    try:
        directions, _ = _strongest_directions(_panels(fig)["a +"], tol=0.05)
        assert np.all(np.abs(directions[:, 1]) > 0.95)  # (x, y): y dominates: vertical
    finally:
        pyplot().close(fig)


def test_a_model_without_hog_is_refused(pipe):
    other = ImagePipeline()
    other.features_ = object()
    with pytest.raises(ValueError, match="not HOG"):
        hog_cell_weights(other)


@pytest.mark.parametrize("ext", ["png", "pdf", "svg"])
def test_plot_writes_the_format_of_the_extension(pipe, tmp_path, ext):
    _set_weights(pipe, _hog_weights([0, 4, 8]))
    path = tmp_path / f"w.{ext}"
    plot_hog_weights(pipe, path)
    assert path.stat().st_size > 0


def test_show_command(pipe, tmp_path, monkeypatch):
    model = tmp_path / "m.npz"
    _set_weights(pipe, _hog_weights([0, 4, 8]))
    pipe.pca_ = pipe.scaler_ = None
    pipe.classifier_.coef_ = _hog_weights([0, 4, 8]).astype(np.float32)
    pipe.save(model)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["show", "-m", str(model)])
    assert result.exit_code == 0, result.output
    assert result.output == "figure written to m-weights.png\n"
    with open(tmp_path / "m-weights.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    # an existing figure is refused without --force; a bad extension and a bad model too
    for args, message in [
        (["-m", str(model)], "already exists; add --force"),
        (["-m", str(model), "-o", "w.gif"], "cannot write a figure as '.gif'"),
        (["-m", str(tmp_path / "missing.npz"), "-o", "w.svg"], "missing.npz"),
    ]:
        before = sorted(os.listdir(tmp_path))
        result = runner.invoke(main, ["show", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert sorted(os.listdir(tmp_path)) == before
    result = runner.invoke(main, ["show", "-m", str(model), "-o", "w.pdf", "--dpi", "60"])
    assert result.exit_code == 0 and (tmp_path / "w.pdf").read_bytes()[:4] == b"%PDF"


# ---------------------------------------------------------------------- learned features
@pytest.fixture(scope="module")
def kmeans_pipe():
    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype(np.uint8)[:300]
    return ImagePipeline(SoftmaxClassifier(n_iter=20, batch_size=50),
                         features=KMeansFeatures(**SMALL, random_state=0),
                         standardize=True).fit(images, digits.target[:300])


def _image_of(fig, index):
    axes = [ax for ax in fig.axes if ax.images]
    return np.ma.filled(axes[index].images[0].get_array(), np.nan)


def test_dictionary_is_drawn_most_used_first(kmeans_pipe):
    pipe = kmeans_pipe
    k = pipe.features_.cluster_centers_.shape[0]
    # use = norm of the feature-space weights on each centroid's 4 pooled features
    weights = input_weights_reference(pipe).reshape(len(pipe.classes_), 4, k)
    use = np.sqrt((weights ** 2).sum(axis=(0, 1)))
    order = np.argsort(-use, kind="stable")
    assert sorted(order.tolist()) == list(range(k)) and len(set(np.round(use, 6))) == k
    fig = draw_kmeans_weights(pipe)
    try:
        montage = _image_of(fig, 0)
        size = pipe.features_.patch_size
        columns = int(np.ceil(np.sqrt(k)))
        for position in (0, 1, k - 1):
            r, c = divmod(position, columns)
            tile = montage[r * (size + 1):r * (size + 1) + size,
                           c * (size + 1):c * (size + 1) + size]
            center = pipe.features_.cluster_centers_[order[position]].reshape(size, size)
            stretched = (center - center.min()) / (center.max() - center.min())
            np.testing.assert_allclose(tile, stretched, atol=1e-6)
        # the gaps are NaN (drawn in a colour no tile has)
        assert np.all(np.isnan(montage[size, :]))
    finally:
        pyplot().close(fig)


def input_weights_reference(pipe):
    """Feature-space weights by least squares: score differences of random features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(pipe.n_image_features_ + 20, pipe.n_image_features_))
    z = pipe.scaler_.transform(x.astype(np.float32), copy=True)
    z = z if pipe.pca_ is None else pipe.pca_.transform(z)
    scores = z.astype(np.float64) @ pipe.classifier_.coef_.T.astype(np.float64)
    x1 = np.hstack([x, np.ones((len(x), 1))])
    return np.linalg.lstsq(x1, scores, rcond=None)[0][:-1].T


def test_class_filters_are_the_largest_weights_per_quadrant(kmeans_pipe):
    pipe = kmeans_pipe
    k = pipe.features_.cluster_centers_.shape[0]
    weights = input_weights_reference(pipe).reshape(len(pipe.classes_), 4, k)
    strongest = class_filters(pipe, top=3)
    assert strongest.shape == (len(pipe.classes_), 4, 3)
    for n in range(len(pipe.classes_)):
        for q in range(4):
            assert strongest[n, q].tolist() == np.argsort(-weights[n, q])[:3].tolist()
    fig = draw_kmeans_weights(pipe)
    try:
        montage, size = _image_of(fig, 1), pipe.features_.patch_size
        # class 2's row, quadrant "bottom left" (2), its strongest filter (column 6)
        tile = montage[2 * (size + 1):2 * (size + 1) + size, 6 * (size + 1):6 * (size + 1) + size]
        center = pipe.features_.cluster_centers_[strongest[2, 2, 0]].reshape(size, size)
        np.testing.assert_allclose(tile, (center - center.min()) / np.ptp(center), atol=1e-6)
        assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == [str(c) for c in range(10)]
    finally:
        pyplot().close(fig)


def test_show_draws_a_learned_feature_model(kmeans_pipe, tmp_path):
    model = tmp_path / "km.npz"
    kmeans_pipe.save(model)
    result = CliRunner().invoke(main, ["show", "-m", str(model), "-o", str(tmp_path / "k.svg")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "k.svg").read_bytes().lstrip()[:5] in (b"<?xml", b"<svg ")


# ---------------------------------------------------------------------- test images
def test_confident_examples_of_known_probabilities():
    proba = np.array([[0.9, 0.1, 0.0],   # 0 right
                      [0.6, 0.4, 0.0],   # 0 right, less sure
                      [0.2, 0.7, 0.1],   # 0 wrong (as 1, 0.7)
                      [0.1, 0.1, 0.8],   # 0 wrong (as 2, 0.8): the most confident wrong
                      [0.3, 0.7, 0.0],   # 1 right
                      [0.5, 0.4, 0.1]])  # 1 wrong
    y = np.array([0, 0, 0, 0, 1, 1])
    assert confident_examples(proba, y).tolist() == [[0, 3], [4, 5], [-1, -1]]


def test_examples_figure_on_the_digits(kmeans_pipe):
    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype(np.uint8)[300:600]
    y = digits.target[300:600]
    proba = kmeans_pipe.predict_proba(images)
    names = [str(c) for c in range(10)]
    fig = draw_confident_examples(proba, images, y, names)
    try:
        predicted = proba.argmax(axis=1)
        grid = np.array(fig.axes).reshape(2, 10)
        for c in range(10):
            right = np.flatnonzero((y == c) & (predicted == c))
            expected = right[np.argmax(proba[right, c])]
            np.testing.assert_array_equal(grid[0, c].images[0].get_array(), images[expected])
            best = np.argsort(-proba[expected])[:3]
            assert grid[0, c].get_title().splitlines() == (
                [f"true {c}"] + [f"{k}: {proba[expected, k]:.2f}" for k in best])
            wrong = np.flatnonzero((y == c) & (predicted != c))
            if len(wrong):
                shown = wrong[np.argmax(proba[wrong, predicted[wrong]])]
                np.testing.assert_array_equal(grid[1, c].images[0].get_array(), images[shown])
            else:
                assert not grid[1, c].images and "no wrong" in grid[1, c].texts[0].get_text()
    finally:
        pyplot().close(fig)


def test_show_examples_writes_a_second_figure(kmeans_pipe, tmp_path):
    model = tmp_path / "km.npz"
    kmeans_pipe.save(model)
    runner = CliRunner()
    before = sorted(os.listdir(tmp_path))
    result = runner.invoke(main, ["show", "-m", str(model), "-d", str(tmp_path / "nowhere"),
                                  "-o", str(tmp_path / "k.png")])
    assert result.exit_code == 2 and "nowhere" in result.output
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
    result = runner.invoke(main, ["show", "-m", str(model), "--examples", "-o",
                                  str(tmp_path / "k.pdf")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"figure written to {tmp_path / 'k.pdf'}",
                                          f"figure written to {tmp_path / 'k-examples.pdf'}"]
    assert (tmp_path / "k-examples.pdf").read_bytes()[:4] == b"%PDF"


def test_show_refuses_a_bad_model_file_in_one_line(pipe, tmp_path):
    bare = tmp_path / "bare.npz"
    pipe.classifier_.save(bare)
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    runner = CliRunner()
    for name, message in [("bare.npz", "holds a bare SoftmaxClassifier, not an image pipeline"),
                          ("junk.npz", "junk.npz")]:
        before = sorted(os.listdir(tmp_path))
        result = runner.invoke(main, ["show", "-m", str(tmp_path / name),
                                      "-o", str(tmp_path / "w.png")])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and message in result.output
        assert "Traceback" not in result.output
        assert sorted(os.listdir(tmp_path)) == before


def test_colour_dictionary_tiles_keep_the_channels(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(40, 8, 8, 3), dtype=np.uint8)
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=5, batch_size=20),
                         features=KMeansFeatures(**SMALL, random_state=0),
                         standardize=True).fit(images, np.arange(40) % 2)
    order = dictionary_order(pipe)[0]
    fig = draw_kmeans_weights(pipe)
    try:
        montage = _image_of(fig, 0)
        assert montage.shape[-1] == 3
        center = pipe.features_.cluster_centers_[order[0]].reshape(3, 3, 3)
        np.testing.assert_allclose(montage[:3, :3], (center - center.min()) / np.ptp(center),
                                   atol=1e-6)
    finally:
        pyplot().close(fig)
    plot_model_weights(pipe, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


# ---------------------------------------------------------------------- pixel templates
def _pixel_classifier(coef):
    """A classifier trained on 8x8 pixels whose weights are then set to ``coef``."""
    X, y = load_digits(return_X_y=True)
    clf = SoftmaxClassifier(n_iter=5, batch_size=50, random_state=0).fit(X[:200] / 16, y[:200])
    clf.coef_ = np.asarray(coef, dtype=clf.coef_.dtype)
    return clf


def test_a_known_weight_vector_is_drawn_as_its_template():
    from fastsoftmax.plots import draw_pixel_templates

    rng = np.random.default_rng(0)
    coef = rng.normal(size=(10, 64))
    coef[3] = 0.0
    coef[3, 8 * 2 + 5] = 4.0       # class 3: one bright pixel at row 2, column 5
    coef[3, 8 * 6 + 1] = -2.0      # and one dark pixel at row 6, column 1
    clf = _pixel_classifier(coef)
    fig = draw_pixel_templates(clf, (8, 8))
    try:
        drawn = _image_of(fig, 3)
        expected = np.full((8, 8), 2.0 / 6.0)   # (0 - (-2)) / (4 - (-2))
        expected[2, 5], expected[6, 1] = 1.0, 0.0
        np.testing.assert_allclose(drawn, expected)
        for k in range(10):   # every class: its row, reshaped row-major, stretched to 0..1
            row = clf.coef_[k].astype(np.float64).reshape(8, 8)
            np.testing.assert_allclose(_image_of(fig, k),
                                       (row - row.min()) / (row.max() - row.min()))
        assert [ax.get_title() for ax in fig.axes if ax.images] == [str(c) for c in range(10)]
    finally:
        fig.clf()


def test_show_draws_a_bare_pixel_classifier(tmp_path):
    clf = _pixel_classifier(np.random.default_rng(1).normal(size=(10, 64)))
    model = tmp_path / "pixels.npz"
    clf.save(model)
    runner = CliRunner()
    drawn = runner.invoke(main, ["show", "-m", str(model), "-o", str(tmp_path / "t.png"),
                                 "--image-size", "8x8"])
    assert drawn.exit_code == 0, drawn.output
    assert drawn.output == f"figure written to {tmp_path / 't.png'}\n"
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = sorted(os.listdir(tmp_path))
    for args, message in [
        (["--image-size", "5x5"], "the classifier takes 64 features, not the 25 pixels of a 5x5 image"),
        (["--examples"], "--data and --examples need an image pipeline"),
        ([], "holds a bare SoftmaxClassifier, not an image pipeline; give --image-size WxH"),
    ]:
        refused = runner.invoke(main, ["show", "-m", str(model), "-o", str(tmp_path / "u.png"),
                                       *args])
        assert refused.exit_code == 2, refused.output
        assert len(refused.output.strip().splitlines()) == 1 and message in refused.output
        assert sorted(os.listdir(tmp_path)) == before


# ---------------------------------------------------------------------- symmetric features
@pytest.fixture(scope="module")
def symmetric_pipe():
    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype(np.uint8)[:300]
    features = KMeansFeatures(**SMALL, encoder="soft-threshold", pooling=3, mirror=True,
                              pyramid=True, random_state=0)
    return ImagePipeline(SoftmaxClassifier(n_iter=20, batch_size=50), features=features,
                         standardize=True).fit(images, digits.target[:300])


def test_symmetric_model_weights_unfold_to_the_same_scores(symmetric_pipe):
    """The pictures' weights per region and filter (each atom and its negation, the mirror
    fold undone) give the classifier's scores of the unfolded pooled features."""
    from fastsoftmax.features._mirror import fold_mirror
    from fastsoftmax.plots import dictionary_tiles
    from fastsoftmax.plots.model_pictures import _region_weights

    pipe = symmetric_pipe
    k = pipe.features_.cluster_centers_.shape[0]          # 8: 4 atoms and their mirrors
    weights = _region_weights(pipe)
    assert weights.shape == (10, 10, 2 * k)   # 3x3 regions + the whole image; +d, -d filters
    rng = np.random.default_rng(1)
    pooled = rng.random((5, 10 * 2 * k)).astype(np.float32)  # (region, polarity, atom)
    folded = np.hstack([fold_mirror(pooled[:, :9 * 2 * k], 3, 2, k),
                        fold_mirror(pooled[:, 9 * 2 * k:], 1, 2, k)])
    expected = folded.astype(np.float64) @ input_weights_reference(pipe).T
    # filter index p * K + k is polarity p of atom k: the same order as the features'
    got = pooled.reshape(5, 10, 2 * k).astype(np.float64)
    np.testing.assert_allclose(np.einsum("nrf,crf->nc", got, weights), expected,
                               rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    strongest = class_filters(pipe, top=2)
    assert strongest.shape == (10, 10, 2)
    tiles = dictionary_tiles(pipe, np.arange(2 * k))
    np.testing.assert_allclose(tiles[k:], 1.0 - tiles[:k], atol=1e-12)  # -d: the negative
    fig = draw_kmeans_weights(pipe)
    try:
        labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
        assert labels == [name.replace(" ", "\n") for name in (
            "top left", "top", "top right", "left", "centre", "right", "bottom left",
            "bottom", "bottom right", "whole image")]
    finally:
        pyplot().close(fig)
