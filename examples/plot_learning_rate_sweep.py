"""
A learning-rate sweep
=====================

:func:`~fastsoftmax.experiments.sweep.run_sweep` fits one classifier per learning rate on
the same features and returns one row per run: its accuracies, final loss and loss
curve (``curve``).
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fastsoftmax.experiments.sweep import run_sweep

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16, y, test_size=0.25, random_state=0)
rows = run_sweep(X_train, y_train, X_val, y_val, X_val[:0], y_val[:0],
                 grid={"learning_rate": [0.01, 0.1, 1.0]},
                 base_params={"batch_size": 64, "n_iter": 300}, n_jobs=1)

fig, ax = plt.subplots()
for row, style in zip(rows, ["-", "--", ":"]):
    print(f"learning rate {row['learning_rate']:g}: validation accuracy "
          f"{row['val_accuracy']:.3f}, final loss {row['final_loss']:.3f}")
    updates, losses = row["curve"]
    ax.plot(updates, losses, style, label=f"learning rate {row['learning_rate']:g}")
ax.set_xlabel("update")
ax.set_ylabel("minibatch loss")
ax.legend()
plt.show()
