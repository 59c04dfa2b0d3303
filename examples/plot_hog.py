"""
HOG of one image
================

:func:`fastsoftmax.features.hog` computes the HOG features of a stack of images, equal
image by image to :func:`skimage.feature.hog`, which also draws them.  The 8x8 digit is
enlarged four times first, so that each 8x8-pixel cell's glyph is large enough to see.
"""
import matplotlib.pyplot as plt
import numpy as np
from skimage.feature import hog as skimage_hog

from fastsoftmax.data import load_digits_images
from fastsoftmax.features import hog

digits = load_digits_images()
image = np.kron(digits.X_train[0], np.ones((4, 4), dtype=np.uint8))
features = hog(image[np.newaxis], orientations=9, pixels_per_cell=(8, 8),
               cells_per_block=(1, 1))
reference, picture = skimage_hog(image, orientations=9, pixels_per_cell=(8, 8),
                                 cells_per_block=(1, 1), visualize=True)
print(f"{features.shape[1]} features; largest difference from scikit-image: "
      f"{np.abs(features[0] - reference).max():.1e}")

fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
left.imshow(image, cmap="gray")
left.set_title(f"digit {digits.class_names[digits.y_train[0]]}")
right.imshow(picture, cmap="gray")
right.set_title("its HOG")
for ax in (left, right):
    ax.set_axis_off()
plt.show()
