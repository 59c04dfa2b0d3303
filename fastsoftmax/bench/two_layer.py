"""The two-layer learned-feature encoder (``--second-layer``): the fused kernels (the
first layer's grid and cells in one pass, the second layer by the mirror-split kernel on
float maps) against :func:`~fastsoftmax.features.second_layer.encode_two_layers_reference`
in float32, image by image; and the features of an image's four shifted copies made from
its own cells (:mod:`~fastsoftmax.features.shifted_copies`) against the fused kernels
encoding each copy.

Both sides encode the same images with the same fitted layers; the layers are fitted at
setup on synthetic images with few patches and iterations (the speed does not depend on
what the dictionaries learned).
"""
import numpy as np

from fastsoftmax.bench.inputs import synthetic_images
from fastsoftmax.bench.timing import Pair
from fastsoftmax.features import KMeansFeatures
from fastsoftmax.features.second_layer import encode_two_layers, encode_two_layers_reference
from fastsoftmax.features.shifted_copies import SHIFT_DIRECTIONS, shift_images

#: Per size: images encoded, images of the reference, first-layer atoms, second-layer
#: atoms, second-layer channels.
SIZES = {"tiny": (4, 2, 16, 8, 8), "quick": (32, 4, 1600, 1000, 128),
         "full": (256, 8, 1600, 1000, 128)}


def _two_layer_model(size):
    """``--preset large``'s learned features at ``size``, fitted on synthetic images, and
    images to encode."""
    n, _, k, k2, channels = SIZES[size]
    train, _ = synthetic_images(max(300, n), seed=1)
    model = KMeansFeatures(patch_size=6, n_centroids=k, n_patches=max(5000, 4 * k),
                           whiten_eps=1.0, power=0.5, encoder="soft-threshold", pooling=3,
                           mirror=True, pyramid=True, quadrants=True, max_iter=2,
                           second_layer=k2, second_layer_channels=channels,
                           random_state=0).fit(train)
    return model, np.ascontiguousarray(train[:n])


def setup_two_layer_encoder(size):
    n, n_ref, k, k2, channels = SIZES[size]
    model, images = _two_layer_model(size)

    def fast():
        return encode_two_layers(model, model.second_layer_, images)

    def reference():
        return encode_two_layers_reference(model, model.second_layer_, images[:n_ref],
                                           dtype=np.float32)

    info = {"shape": f"{n} images 32x32x3, first layer K={k} (6x6 patches, 3x3 grid + "
                     f"whole + quadrants, 9x9 cells), second layer K={k2} on {channels} channels"}
    return Pair(fast, reference, reference_label="numpy float32", unit="image",
                fast_units=n, reference_units=n_ref, info=info)


def setup_shifted_copies(size):
    n, _, k, k2, channels = SIZES[size]
    model, images = _two_layer_model(size)
    shift = 3  # the command line's shift_predict: one cell of 3 patch positions

    def fast():
        return model.transform_shifted(images, shift)

    def reference():
        copies = [images] + [shift_images(images, dy * shift, dx * shift)
                             for dy, dx in SHIFT_DIRECTIONS]
        return [encode_two_layers(model, model.second_layer_, copy) for copy in copies]

    info = {"shape": f"{n} images 32x32x3 and their 4 copies shifted 3 pixels, first layer "
                     f"K={k} (quadrants), second layer K={k2} on {channels} channels"}
    return Pair(fast, reference, reference_label="fused encoder on each copy", unit="image",
                fast_units=n, reference_units=n, info=info)
