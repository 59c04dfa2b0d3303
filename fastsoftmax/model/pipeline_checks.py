"""The check that a pipeline's fitted steps fit together and fit its image shape, which
:meth:`~fastsoftmax.model.pipeline.ImagePipeline.from_arrays` makes on every model
file (and :meth:`~fastsoftmax.model.pipeline.ImagePipeline.save` before writing one).
"""
__all__ = ["check_steps_fit"]


def _with_channels(shape):
    """(H, W) as (H, W, 1): a grayscale shape either way."""
    shape = tuple(shape)
    return shape + (1,) if len(shape) == 2 else shape


def check_steps_fit(image_shape, n_image_features, pca_variance, standardize, class_names,
                     features, scaler, pca, classifier):
    """Raise ``ValueError`` unless the fitted steps fit together and the image shape."""
    size = "x".join(map(str, image_shape))
    fitted_shape = getattr(features, "image_shape_", None)
    if fitted_shape is not None and _with_channels(fitted_shape) != _with_channels(image_shape):
        raise ValueError(f"image_shape {list(image_shape)} is not the feature step's "
                         f"image_shape_ {list(fitted_shape)}")
    n_out = getattr(features, "n_features_out_", n_image_features)
    if (scaler is None) == bool(standardize):
        raise ValueError(f"standardize is {bool(standardize)} but the file "
                         f"{'has no' if scaler is None else 'has a'} scaler step")
    if scaler is not None and scaler.n_features_in_ != n_out:
        raise ValueError(f"the scaler takes {scaler.n_features_in_} features but the feature "
                         f"step gives {n_out} for {size} images")
    if pca is not None and pca.n_features_in_ != n_out:
        raise ValueError(f"the PCA takes {pca.n_features_in_} features but the feature step "
                         f"gives {n_out} for {size} images")
    if n_out != n_image_features:
        raise ValueError(f"n_image_features is {n_image_features} but the feature step gives "
                         f"{n_out} for {size} images")
    if (pca is None) != (pca_variance is None):
        raise ValueError(f"pca_variance is {pca_variance} but the file "
                         f"{'has no' if pca is None else 'has a'} PCA step")
    n_in = n_image_features if pca is None else pca.n_components_
    if classifier.n_features_in_ != n_in:
        raise ValueError(f"the classifier takes {classifier.n_features_in_} features but the "
                         f"{'feature step' if pca is None else 'PCA'} gives {n_in}")
    if class_names is None:
        return
    classes = classifier.classes_
    if not all(isinstance(name, str) for name in class_names):
        raise ValueError("class_names is not a list of strings")
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names repeats a name")
    if len(class_names) != len(classes):  # one name per class: no more, no fewer
        raise ValueError(f"class_names lists {len(class_names):,} names for {len(classes):,} "
                         "classes")
    if classes.dtype.kind not in "iu" or classes.min() < 0 or classes.max() >= len(class_names):
        raise ValueError(f"the classifier's classes_ {classes.tolist()[:10]} are not indices "
                         f"into the {len(class_names)} class_names")
