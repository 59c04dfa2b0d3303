"""
Train a classifier and plot its loss curve
==========================================

A :class:`~fastsoftmax.SoftmaxClassifier` fitted on scikit-learn's digits; its
``loss_curve_`` holds the minibatch loss of every update, drawn raw (light) and as a
moving average (dark), as :func:`fastsoftmax.plots.plot_loss_curve` draws it.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.plots import smooth

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, random_state=0)
clf = SoftmaxClassifier(batch_size=64, learning_rate=0.1, n_iter=500, random_state=0)
clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

fig, ax = plt.subplots()
window = 25
ax.plot(np.arange(1, clf.n_iter_ + 1), clf.loss_curve_, color="0.75", label="minibatch loss")
ax.plot(np.arange(window, clf.n_iter_ + 1), smooth(clf.loss_curve_, window), color="k",
        label=f"mean of {window} updates")
ax.set_xlabel("update")
ax.set_ylabel("cross-entropy")
ax.set_title("SoftmaxClassifier on the digits")
ax.legend()
plt.show()
