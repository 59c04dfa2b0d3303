"""PNG plots (matplotlib, no display needed): loss curves and confusion matrices."""
import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Render to a temporary file beside ``path`` and rename: never a half-written PNG."""
    from ._atomic import atomic_open

    try:
        with atomic_open(path, "wb") as handle:
            fig.savefig(handle, format="png", dpi=120, bbox_inches="tight")
    finally:
        fig.clf()
        pyplot().close(fig)


def smooth(values, window):
    """Moving average over ``window`` points (``valid`` part), for noisy minibatch losses."""
    values = np.asarray(values, dtype=np.float64)
    window = max(1, min(int(window), len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_loss_curve(losses, path, title="training loss", label=None):
    """Minibatch loss against update, raw (light) and smoothed (dark)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    losses = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8, label="minibatch loss")
    window = max(1, len(losses) // 50)
    if window > 1:
        sm = smooth(losses, window)
        ax.plot(steps[window - 1:], sm, color="tab:blue", lw=1.8,
                label=f"moving average ({window} updates)" if label is None else label)
    ax.set_xlabel("update (minibatch)")
    ax.set_ylabel("loss (cross-entropy + penalty)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_confusion_matrix(matrix, class_names, path, title="confusion matrix"):
    """Row-normalized confusion matrix with counts in the cells."""
    plt = pyplot()
    matrix = np.asarray(matrix)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    save_figure(fig, path)
