"""
What a HOG model learned
========================

An :class:`~fastsoftmax.ImagePipeline` (the study's HOG, PCA and softmax) fitted on
scikit-learn's digits; :func:`fastsoftmax.plots.draw_hog_weights` takes each class's
weights back through the PCA to HOG space and draws them as oriented-gradient glyphs,
one line per cell and orientation bin: on the left what speaks for the class, on the
right what speaks against it. ``fastsoftmax show --model M`` draws the same picture.
"""
import matplotlib.pyplot as plt

from fastsoftmax import ImagePipeline, SoftmaxClassifier
from fastsoftmax.data import load_digits_images
from fastsoftmax.features import study_hog
from fastsoftmax.plots import draw_hog_weights

digits = load_digits_images()
pipe = ImagePipeline(SoftmaxClassifier(random_state=0),
                     features=study_hog(digits.image_shape), cache=False)
pipe.fit(digits.X_train, digits.y_train)
print(f"test accuracy: {pipe.score(digits.X_test, digits.y_test):.3f}")

fig = draw_hog_weights(pipe, class_names=digits.class_names)
plt.show()
