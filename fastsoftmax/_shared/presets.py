"""The study's setup, in one place: its HOG parameters, its classifier, what it reported.

Read by the pipeline (default features), ``fastsoftmax train --preset study``, the
study's analyses (:mod:`fastsoftmax.experiments.study`) and the benchmarks.  Plain
constants, no imports: the bottom of the package.
"""

#: HOG on 32x32 grayscale images: 9 orientations, 4x4-pixel cells, 2x2-cell blocks.
STUDY_HOG = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2),
             "block_norm": "L2-Hys"}
#: Images smaller than this (rows or columns) get 2x2-pixel cells: with 4x4 cells the
#: 8x8 digits would have a single block.
SMALL_IMAGE_SIDE = 16

#: Training-set size, batch, number of updates and learning rate of the study.
STUDY_TRAIN_SIZE = 45_000
STUDY_BATCH = 500
STUDY_UPDATES = 50_000
STUDY_LEARNING_RATE = 0.01
#: Passes over the data the study made (about 556).
STUDY_PASSES = STUDY_UPDATES * STUDY_BATCH / STUDY_TRAIN_SIZE
#: The study's L2 strength, which multiplies 1/2 ||W||^2 against the minibatch's
#: *summed* loss; our loss is the batch *mean*, so the same penalty is alpha = 1.2 / 500.
STUDY_L2 = 1.2
STUDY_ALPHA = STUDY_L2 / STUDY_BATCH

#: The study's classifier as :class:`~fastsoftmax.SoftmaxClassifier` parameters.
STUDY_PRESET = {
    "batch_size": STUDY_BATCH,
    "learning_rate": STUDY_LEARNING_RATE,
    "n_iter": STUDY_UPDATES,
    "lr_schedule": "constant",
    "momentum": 0.0,
    "sampling": "replacement",
    "penalty": "l2",
    "alpha": STUDY_ALPHA,
}

#: Test accuracy the study reported for its setup on CIFAR-10.
STUDY_TEST_ACCURACY = 0.4419


def default_hog_params(image_shape):
    """HOG parameters for an image size: the study's, with 2x2-pixel cells for images
    smaller than :data:`SMALL_IMAGE_SIDE` pixels (the 8x8 digits)."""
    params = dict(STUDY_HOG)
    if min(image_shape[:2]) < SMALL_IMAGE_SIDE:
        params["pixels_per_cell"] = (2, 2)
    return params


#: Learned features (``--features kmeans``): 6x6 patches at every position (stride 1),
#: whitened (``whiten_eps`` 1 instead of the paper's 0.1), a spherical k-means
#: dictionary of 800 atoms and their mirror images, the soft threshold with a polarity
#: split (Coates & Ng 2011), sums over a 3x3 grid and over the whole image
#: (``pyramid``), square-rooted, and folded over the mirror (``mirror``: the same
#: features for an image and its mirror image, which a linear classifier then learns as
#: if trained on both).  docs/learned-features.md measures each choice.
KMEANS_FEATURES = {"patch_size": 6, "n_centroids": 1600, "stride": 1, "n_patches": 400_000,
                   "power": 0.5, "whiten_eps": 1.0, "max_iter": 15, "encoder": "soft-threshold",
                   "threshold": 0.25, "pooling": 3, "mirror": True, "pyramid": True,
                   "quadrants": False, "second_layer": 0, "second_layer_channels": 128,
                   "second_layer_weight": 0.3}
#: The classifier settings for the standardized learned features: a smaller learning
#: rate and a stronger L2 penalty than the classifier's defaults, and 200 passes (100
#: stop short of the optimum; 300 add nothing).
KMEANS_CLASSIFIER = {"batch_size": 512, "learning_rate": 0.01, "alpha": 1e-3, "epochs": 200,
                     "momentum": 0.9}
#: Per feature step of the command line: the pipeline's standardization and PCA, its
#: mirror images and shifted copies (``flip_train``, ``flip_predict``, ``shift_predict``,
#: ``shift_train``, ``shift_rounds`` of :class:`~fastsoftmax.model.pipeline.ImagePipeline`),
#: and the classifier parameters that replace :class:`~fastsoftmax.SoftmaxClassifier`'s
#: defaults unless the user sets them.
FEATURE_SETUPS = {
    "hog": {"standardize": False, "pca_variance": 0.95, "flip_train": False,
            "flip_predict": False, "shift_predict": 0, "shift_train": 0, "shift_rounds": 3,
            "classifier": {}},
    "kmeans": {"standardize": True, "pca_variance": None, "flip_train": False,
               "flip_predict": False, "shift_predict": 3, "shift_train": 0, "shift_rounds": 3,
               "classifier": KMEANS_CLASSIFIER},
}
#: The smallest image side the setups' ``shift_predict`` and ``shift_train``, and the
#: large preset's ``image_params``, apply to: a shift of a few pixels costs small images
#: (the 8x8 digits) accuracy, and a second layer needs more patch positions a side than
#: they have.
LARGE_IMAGE_MIN_SIDE = 32


def is_large_image(image_shape):
    """Whether images of ``image_shape`` (H, W[, C]) are large enough for the settings
    that :data:`LARGE_IMAGE_MIN_SIDE` gates."""
    return min(image_shape[:2]) >= LARGE_IMAGE_MIN_SIDE


#: What ``--preset large`` changes, per feature step: the feature step's parameters, the
#: classifier's defaults, what it replaces of :data:`FEATURE_SETUPS`, and feature
#: parameters for images of at least :data:`LARGE_IMAGE_MIN_SIDE` pixels a side
#: (``image_params``).  With ``--features kmeans`` on such images: a second layer of 1,000
#: atoms, the first layer's sums over the quadrants of its cells (``quadrants``) and
#: three rounds of randomly shifted training images (``shift_train``), higher
#: accuracy for about four times the time and twice the memory of the defaults.
LARGE_SETUPS = {"kmeans": {"params": KMEANS_FEATURES,
                           "classifier": KMEANS_CLASSIFIER,
                           "setup": {"shift_train": 2, "shift_rounds": 3},
                           "image_params": {"second_layer": 1000, "quadrants": True}}}
