"""Figures shared across tfdl: loss curves, classifier results, piano rolls of songs."""

# No matplotlib.use() here: a library must not take the backend from a notebook.
# Without a display, matplotlib picks Agg by itself, so saving PNGs works on servers.
import matplotlib.pyplot as plt

from tfdl.errors import UserError


def log_and_close(figures, tracker=None):
    """Log ``{name: Figure}`` to ``tracker`` (when given), then free the figures.

    Closing matters in loops and notebooks: pyplot keeps every open figure alive.
    """
    for name, fig in figures.items():
        if tracker is not None:
            tracker.log_figure(name, fig)
        plt.close(fig)


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


def plot_confusion_matrix(labels, predicted, path=None, num_classes=10, title="confusion matrix"):
    """Counts of (true label, predicted label) as a heat map with the counts written in.

    ``labels`` and ``predicted`` are int arrays (n,). Save as PNG when ``path`` is given;
    returns the Figure.
    """
    import numpy as np

    counts = np.zeros((num_classes, num_classes), dtype=np.int64)  # (true, predicted)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(num_classes):
        for j in range(num_classes):
            if counts[i, j]:
                colour = "white" if counts[i, j] > threshold else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(num_classes))
    ax.set_yticks(range(num_classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title} (accuracy {accuracy:.2%}, n={counts.sum()})")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_prediction_grid(images, labels, probabilities, path=None, rows=5, cols=4, title=None):
    """The lab's prediction grid: each image beside a bar chart of its class probabilities.

    Under each image: the predicted label, its probability and the true label in
    brackets, blue when right and red when wrong. In the bars the predicted class is
    red and the true class blue (blue over red when they agree). Shows the first
    ``rows * cols`` images; ``images`` (n, h, w[, 1]), ``labels`` (n,),
    ``probabilities`` (n, classes). Save as PNG when ``path`` is given; returns the Figure.
    """
    import numpy as np
    from matplotlib.collections import PolyCollection

    # Everything is drawn on one axes in data units (an image is 1 x 1): forty
    # matplotlib axes would take seconds to lay out and draw.
    n = min(rows * cols, len(images))
    rows = max(1, -(-n // cols))
    cell_w, cell_h, scale = 2.5, 1.5, 1.7  # units per cell; inches per unit
    top = 0.4 if title else 0.0  # inches above the grid for the title
    height = rows * cell_h * scale + top
    fig = plt.figure(figsize=(cols * cell_w * scale, height))
    ax = fig.add_axes((0, 0, 1, 1 - top / height))
    ax.set_xlim(-0.1, cols * cell_w - 0.1)
    ax.set_ylim(rows * cell_h - 0.05, -0.1)  # y grows downwards, like rows
    ax.axis("off")
    bars, colours, frames = [], [], []
    for k in range(n):
        x, y = (k % cols) * cell_w, (k // cols) * cell_h  # the image's top-left corner
        probs = np.asarray(probabilities[k])
        guess, truth = int(np.argmax(probs)), int(labels[k])
        ax.imshow(np.squeeze(images[k]), cmap=plt.cm.binary, extent=(x, x + 1, y + 1, y), vmin=0)
        ax.text(
            x + 0.5,
            y + 1.12,
            f"{guess} {100 * probs[guess]:2.0f}% ({truth})",
            ha="center",
            va="top",
            color="blue" if guess == truth else "red",
        )
        left, base, width = x + 1.15, y + 1, 1.0 / len(probs)  # the bar chart's frame
        frames.append([(left, y), (left + 1, y), (left + 1, base), (left, base)])
        for c, p in enumerate(probs):
            x0, x1 = left + (c + 0.1) * width, left + (c + 0.9) * width
            bars.append([(x0, base), (x1, base), (x1, base - p), (x0, base - p)])
            colours.append("blue" if c == truth else "red" if c == guess else "#777777")
            ax.text((x0 + x1) / 2, base + 0.03, str(c), ha="center", va="top", fontsize=6)
    ax.add_collection(PolyCollection(bars, facecolors=colours, linewidths=0))
    ax.add_collection(PolyCollection(frames, facecolors="none", edgecolors="black", linewidths=0.8))
    if title:
        fig.suptitle(title, y=1 - 0.1 / height)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_piano_roll(abc, path=None, title=None):
    """A piano roll of one song: a bar per note, MIDI pitch against time in quarter notes.

    ``abc`` is the ABC text of one song (repaired and parsed with `tfdl.music.songs`;
    a music21 Score is not enough: the play order is read from the text). Repeats are
    played out, as in the MIDI file. Saves a PNG when ``path`` is given; returns the
    matplotlib Figure.
    """
    from tfdl.music.midi import score_notes
    from tfdl.music.songs import parse_song, repair_song

    if not isinstance(abc, str):
        raise UserError(f"plot_piano_roll takes a song's ABC text, not a {type(abc).__name__}")
    song = repair_song(abc)
    events = score_notes(parse_song(song), song)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.barh(
        [e.pitch for e in events],
        [e.end - e.start for e in events],
        left=[e.start for e in events],
        height=0.8,
        color="tab:blue",
        edgecolor="black",
        linewidth=0.4,
    )
    if events:
        low, high = min(e.pitch for e in events), max(e.pitch for e in events)
        names = "C C# D D# E F F# G G# A A# B".split()
        ticks = [p for p in range(low, high + 1) if p % 12 in (0, 4, 7)] or [low]  # C, E, G
        ax.set_yticks(ticks, [f"{names[p % 12]}{p // 12 - 1}" for p in ticks])
        ax.set_ylim(low - 1, high + 1)
    if title is None:
        titles = [line[2:].strip() for line in abc.splitlines() if line.startswith("T:")]
        title = titles[0] if titles else None
    ax.set_title(title or "piano roll")
    ax.set_xlabel("time (quarter notes)")
    ax.set_ylabel("pitch")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_group_probabilities(results, path=None, title="mean face probability per group"):
    """The debiasing lab's bar chart: one bar per (group, model), grouped by test-face group.

    ``results`` maps a model name to ``{group: mean face probability}`` (see
    `tfdl.faces.group_probabilities`). Save as PNG when ``path`` is given; returns the Figure.
    """
    import numpy as np

    models = list(results)
    groups = list(dict.fromkeys(g for r in results.values() for g in r))
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(groups) + 2), 4))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(groups))
    for k, name in enumerate(models):
        values = [results[name].get(g, np.nan) for g in groups]
        ax.bar(x + (k - (len(models) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, groups)
    ax.set_ylabel("mean P(face)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def _image_rows(rows, labels, path, title):
    """Rows of RGB images (each row: (n, h, w, 3) in [0, 1]) with a label per row."""
    import numpy as np

    cols = max(len(r) for r in rows)
    # One axes per row, images side by side: fast to draw for a few rows.
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.2 * cols, 1.4 * len(rows) + 0.4))
    for ax, row, label in zip(np.atleast_1d(axes), rows, labels):
        strip = np.concatenate([np.clip(im, 0, 1) for im in row], axis=1) if len(row) else None
        if strip is not None:
            ax.imshow(strip)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_reconstructions(images, reconstructions, path=None, title="DB-VAE reconstructions"):
    """Faces (top row) above the DB-VAE's reconstructions from their latent means (bottom)."""
    return _image_rows([images, reconstructions], ["faces", "reconstructions"], path, title)


def plot_likely_faces(likely, unlikely, path=None, title="faces under the DB-VAE's latent density"):
    """The faces the DB-VAE finds most likely (top) and least likely (bottom, resampled most)."""
    return _image_rows([likely, unlikely], ["most likely", "least likely"], path, title)
