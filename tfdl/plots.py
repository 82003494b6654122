"""Figures shared across tfdl: the training loss curve."""

import matplotlib

matplotlib.use("Agg")  # files, not windows: works on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402


def plot_loss(history, path=None, title="training loss"):
    """Plot a training history (see `tfdl.training.History`); save as PNG when ``path`` is given.

    Returns the matplotlib Figure (log it to Comet, show it in a notebook, or close it).
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    if history.steps:
        ax.plot(history.steps, history.losses, label="train", linewidth=1)
    if history.val_steps:
        ax.plot(history.val_steps, history.val_losses, "o-", label="validation", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if history.steps or history.val_steps:
        ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
