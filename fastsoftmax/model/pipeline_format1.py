"""Pipeline model files of format 1 (fastsoftmax 0.1.0), read in format 2's layout.

Format 1 stored the HOG parameters and the PCA in the pipeline's own entries (arrays
``clf_*`` and ``pca_*``); :meth:`fastsoftmax.model.pipeline.ImagePipeline.from_arrays`
converts such content with :func:`upgrade_format_1` and then checks it as any other.
"""
from fastsoftmax.io.fields import entry, stored_array

__all__ = ["upgrade_format_1"]


def upgrade_format_1(metadata, arrays):
    """A format-1 pipeline file's content (HOG parameters and PCA stored by the pipeline,
    arrays ``clf_*`` and ``pca_*``) in format 2's layout; checked by ``from_arrays``."""
    params = {**entry(metadata, "hog_params", dict), "data_range": [0, 255]}
    classifier = entry(metadata, "classifier", dict)
    new_arrays = {f"classifier__{key[4:]}": value for key, value in arrays.items()
                  if key.startswith("clf_")}
    pca = None
    n_image_features = classifier.get("n_features_in_")
    if "pca_components_" in arrays or "pca_mean_" in arrays:
        components = stored_array(arrays, "pca_components_", 2, "f")
        n_image_features = components.shape[1]
        pca = {"params": {"variance": metadata.get("pca_variance")},
               "n_features_in_": n_image_features}
        new_arrays.update(pca__mean_=stored_array(arrays, "pca_mean_", 1, "f"),
                          pca__components_=components)
    upgraded = {key: metadata[key] for key in ("image_shape", "pca_variance", "class_names")
                if key in metadata}
    upgraded.update(feature_step="HOGTransformer", n_image_features=n_image_features,
                    features={"params": params, "image_shape_": metadata.get("image_shape")},
                    pca=pca, classifier=classifier)
    return upgraded, new_arrays
