"""
Train a classifier and plot its loss curve
==========================================

A :class:`~fastsoftmax.SoftmaxClassifier` fitted on scikit-learn's digits; its
``loss_curve_`` holds the minibatch loss of every update.
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fastsoftmax import SoftmaxClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, random_state=0)
clf = SoftmaxClassifier(batch_size=64, learning_rate=0.1, n_iter=500, random_state=0)
clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

fig, ax = plt.subplots()
ax.plot(clf.loss_curve_, color="0.7", label="minibatch loss")
ax.set_xlabel("update")
ax.set_ylabel("cross-entropy")
ax.set_title("SoftmaxClassifier on the digits")
ax.legend()
plt.show()
