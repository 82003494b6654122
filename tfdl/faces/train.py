"""Lab 2 part 2: a face classifier and the debiasing VAE (``tfdl faces train|evaluate``).

The story of the lab, top to bottom: load faces and not-faces (`tfdl.faces.data`),
build the standard CNN or the DB-VAE (`tfdl.faces.models`), train with the shared
GradientTape `Trainer` on balanced batches, where the DB-VAE redraws each epoch's
faces with probabilities that favour faces rare in its latent space
(`sample_probabilities`), then measure held-out accuracy and the mean face
probability on folders of test faces, one folder per group.

An epoch is drawn as indices and its images are read from the data batch by batch,
so training holds a few batches in memory, not the epoch (the lab's h5 file has 100k
images: 5 GB as float32). A model sees images in the colour of its training data
(``colour`` in its settings): a model trained on grey images sees every image grey.

A trained model directory holds ``model.keras``, ``settings.json``, ``history.json``,
``loss.png``, ``checkpoints/`` (with ``run.json``, the run's settings, and
``epoch.npz``, the batches of the epoch in progress, for ``resume``), ``comet/``
(offline tracking) and, for the DB-VAE, ``reconstructions.png`` and ``likely_faces.png``.
"""

import dataclasses
import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfdl.checkpoints import CheckpointDir
from tfdl.faces.config import FacesConfig  # noqa: F401  (tfdl.faces.train.FacesConfig)
from tfdl.faces.data import (
    H5,
    IMAGE_SHAPE,
    RGB,
    Faces,
    check_images,
    in_colour,
    load_faces,
    load_test_faces,
)
from tfdl.faces.losses import cnn_loss, dbvae_loss
from tfdl.faces.models import DBVAE, FaceCNN
from tfdl.saving import load_model_dir
from tfdl.task import resumed_config, resumed_data, run_training
from tfdl.training import TrainConfig, Trainer

MODELS = {"cnn": FaceCNN, "dbvae": DBVAE}
# The batches of the epoch in progress, beside the checkpoints: a run resumed inside
# an epoch goes on with the batches it drew (the DB-VAE drew them with the encoder as
# it was when the epoch began, which no checkpoint holds).
PLAN_FILE = "epoch.npz"


def build_model(config):
    """The model ``config.model`` names, built for (batch, 64, 64, 3) images."""
    if config.model == "cnn":
        model = FaceCNN(config.n_filters, batchnorm_momentum=config.batchnorm_momentum)
    else:
        model = DBVAE(
            config.latent_dim,
            config.n_filters,
            seed=config.seed,
            batchnorm_momentum=config.batchnorm_momentum,
        )
    model.build((None, *IMAGE_SHAPE))
    return model


# -- adaptive resampling ---------------------------------------------------------------


def sample_probabilities(z_mean, bins=10, smoothing=1e-3):
    """The lab's resampling probabilities for faces with latent means ``z_mean`` (n, D).

    Per latent dimension: a ``bins``-bin density histogram of the means, plus
    ``smoothing``, normalised and inverted (rare values -> high weight), normalised
    over the faces; the faces' weights are the maximum over dimensions, normalised to
    sum to 1. Vectorised over dimensions; equal to the lab's per-dimension loop.
    """
    mu = np.asarray(z_mean, np.float64)
    if mu.ndim != 2 or len(mu) == 0:
        raise ValueError(f"z_mean must be (faces, latent) with faces > 0, got shape {mu.shape}")
    n, _ = mu.shape
    low, high = mu.min(axis=0), mu.max(axis=0)  # (D,)
    # np.histogram widens a zero range to +-0.5; do the same.
    same = high == low
    low, high = np.where(same, low - 0.5, low), np.where(same, high + 0.5, high)
    width = (high - low) / bins  # (D,)
    # The bin of each value; the lab's digitize with outer edges at +-inf == clipping.
    index = np.clip(np.floor((mu - low) / width).astype(np.int64), 0, bins - 1)  # (n, D)
    counts = np.apply_along_axis(np.bincount, 0, index, minlength=bins)  # (bins, D)
    density = counts / (n * width) + smoothing  # np.histogram(density=True) + smoothing
    density = density / density.sum(axis=0)
    p = 1.0 / np.take_along_axis(density, index, axis=0)  # (n, D)
    p = p / p.sum(axis=0)
    p = p.max(axis=1)
    return p / p.sum()


# -- data pipeline ----------------------------------------------------------------------


def _signature():
    return (
        tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32),
        tf.TensorSpec((None,), tf.float32),
    )


def _chunks(index, size=256):
    return [index[start : start + size] for start in range(0, len(index), size)]


def _read_dataset(faces, batches):
    """Batches ``(images, labels)`` of ``faces``, each read from the data only when the
    trainer reaches it; ``batches`` is a sequence of index arrays."""

    def read():
        for index in batches:
            yield faces.read(index), faces.labels[index]

    # Two batches read ahead: reading overlaps training, memory stays a few batches.
    return tf.data.Dataset.from_generator(read, output_signature=_signature()).prefetch(2)


def _test_dataset(faces):
    """The held-out images, read a chunk at a time."""
    return _read_dataset(faces, _chunks(faces.test_index))


def face_logits(model, images, batch_size=256):
    """Face logits (n,) for float images (n, 64, 64, 3), for either model."""
    out = []
    for start in range(0, len(images), batch_size):
        x = ops.convert_to_tensor(images[start : start + batch_size])
        logit = model.predict_logit(x) if isinstance(model, DBVAE) else model(x, training=False)
        out.append(np.asarray(logit).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def face_probabilities(model, images, batch_size=256):
    """Sigmoid of `face_logits`: the probability each image is a face."""
    return 1.0 / (1.0 + np.exp(-face_logits(model, images, batch_size)))


def latent_means(model, faces, index, batch_size=256):
    """The DB-VAE's latent means (n, latent_dim) for ``faces`` images ``index``, in chunks."""
    out = [
        np.asarray(model.encode(ops.convert_to_tensor(faces.read(part)))[1])
        for part in _chunks(index, batch_size)
    ]
    return np.concatenate(out)


def held_out_accuracy(model, faces):
    """``{"accuracy", "n"}`` on the held-out split, read a chunk at a time."""
    probs = [face_probabilities(model, faces.read(part)) for part in _chunks(faces.test_index)]
    probs = np.concatenate(probs) if probs else np.zeros(0)
    labels = faces.labels[faces.test_index]
    return {"accuracy": float(np.mean((probs > 0.5) == (labels == 1))), "n": int(len(labels))}


def group_probabilities(model, groups, colour=RGB):
    """``{group: mean face probability}`` over test-face groups (see `load_test_faces`),
    each image seen in ``colour``: the colour of the model's training data."""
    means = {}
    for name, images in groups.items():
        images = in_colour(check_images(images, f"group {name}"), colour)
        means[name] = float(np.mean(face_probabilities(model, images)))
    return means


# -- training ----------------------------------------------------------------------------


def train_faces(
    config=None,
    out_dir="runs/faces",
    data=None,
    *,
    resume=False,
    tracking="offline",
    progress=True,
    log=None,
):
    """Train the CNN or the DB-VAE, measure held-out accuracy, save; returns settings.

    Args:
        config: a `FacesConfig` (resuming, None: the config of the run being resumed).
        out_dir: the model directory (see the module docstring).
        data: the lab's ``train_face.h5``; None: the offline scikit-image data (or,
            resuming, the run's h5 file); or a `Faces`.
        resume: go on from the last checkpoint in ``out_dir``, at the epoch and batch
            where it stopped; a config or data that differ from the run's are refused
            (only ``epochs`` may grow).
        tracking: "off", "offline" or "online" (see `tfdl.tracking`).
        progress: show progress bars.
        log: called with one line saying which data is used (e.g. ``print``).
    """
    out_dir = Path(out_dir)
    if resume:
        config = resumed_config(FacesConfig, config, out_dir)
        data = resumed_data(out_dir, data, (H5,))
    config = config or FacesConfig()
    faces = data if isinstance(data, Faces) else load_faces(data, seed=config.seed)
    if log is not None:
        log(f"data: {faces.describe()}")
    steps_per_epoch = max(1, len(faces.train_index) // config.batch_size)
    plan_file = out_dir / "checkpoints" / PLAN_FILE

    def epoch_batches(model, epoch):
        """The epoch's batches as indices: as drawn before, when resuming inside the
        epoch, else drawn now (and saved)."""
        if resume:
            saved = _read_plan(plan_file, epoch)
            if saved is not None:
                return saved
        p_faces = None
        if config.model == "dbvae":
            # The lab: recompute the faces' sampling probabilities before every epoch.
            mu = latent_means(model, faces, faces.train_faces)
            p_faces = sample_probabilities(mu, config.bins, config.smoothing)
        # A generator per epoch: the draws of an epoch do not depend on the epochs
        # before it, so a resumed run draws what an uninterrupted run would.
        rng = np.random.default_rng([config.seed, epoch])
        batches = faces.epoch_batches(config.batch_size, rng, p_faces)
        _write_plan(plan_file, epoch, batches)
        return batches

    def fit(model, tracker):
        loss_fn = cnn_loss if config.model == "cnn" else dbvae_loss(config.kl_weight)
        trainer = Trainer(
            model,
            keras.optimizers.Adam(config.learning_rate),
            loss_fn,
            out_dir,
            TrainConfig(steps=steps_per_epoch),
            tracker=tracker,
            progress=progress,
        )
        done = CheckpointDir(out_dir / "checkpoints").read_meta()["step"] if resume else 0
        if done and config.model == "dbvae":
            _restore_weights(model, out_dir)  # the next epoch's resampling reads the encoder
        # A finished run resumed: its last epoch, with no step left, restores the model.
        first = min(done // steps_per_epoch, config.epochs - 1)
        for epoch in range(first, config.epochs):
            batches = epoch_batches(model, epoch)
            seen = max(0, done - epoch * steps_per_epoch)  # > 0: resuming inside this epoch
            steps = (epoch + 1) * steps_per_epoch
            # Validate and checkpoint once an epoch; each epoch is a fresh dataset drawn
            # with the new probabilities, so the trainer must not skip into it.
            trainer.config = TrainConfig(
                steps=steps,
                checkpoint_every=steps_per_epoch,
                eval_every=steps_per_epoch,
                log_every=min(10, steps_per_epoch),
            )
            history = trainer.fit(
                _read_dataset(faces, batches[seen:]),
                val_data=_test_dataset(faces),
                resume=resume or epoch > first,
                skip_seen=False,
            )
            if history.interrupted:
                break
        return history

    def evaluate(model, tracker):
        metrics = held_out_accuracy(model, faces)
        if config.model == "dbvae":
            _plot_dbvae(model, faces, config, out_dir, tracker)
        return metrics

    facts = {
        "source": faces.source,
        "data": faces.path,
        "train_images": len(faces.train_index),
        "colour": faces.colour,
    }
    return run_training(
        "faces",
        config,
        out_dir,
        facts,
        build_model,
        fit,
        evaluate,
        tracking=tracking,
        resume=resume,
    )


def _write_plan(path, epoch, batches):
    """Save an epoch's batches (indices) atomically: a crash leaves the old plan or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, epoch=epoch, batches=batches)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_plan(path, epoch):
    """The batches `_write_plan` saved for ``epoch``, or None."""
    if not path.is_file():
        return None
    with np.load(path) as plan:
        return plan["batches"] if int(plan["epoch"]) == epoch else None


def _restore_weights(model, out_dir):
    """The model's weights from the latest checkpoint (the trainer restores the rest)."""
    latest = CheckpointDir(Path(out_dir) / "checkpoints").latest()
    tf.train.Checkpoint(model=model).read(str(latest / "state")).expect_partial()


def _plot_dbvae(model, faces, config, out_dir, tracker):
    """reconstructions.png (8 held-out faces) and likely_faces.png; also to Comet."""
    from tfdl.plots import log_and_close, plot_likely_faces, plot_reconstructions

    test_faces = faces.test_index[faces.labels[faces.test_index] == 1][:8]
    images = faces.read(test_faces)
    recon = np.asarray(model.decode(model.encode(ops.convert_to_tensor(images))[1]))
    index = faces.train_faces
    p = sample_probabilities(latent_means(model, faces, index), config.bins, config.smoothing)
    order = np.argsort(p)  # low resampling probability = common = likely under the density
    figures = {
        "reconstructions": plot_reconstructions(images, recon, out_dir / "reconstructions.png"),
        "likely_faces": plot_likely_faces(
            faces.read(index[order[:8]]),
            faces.read(index[order[::-1][:8]]),
            out_dir / "likely_faces.png",
        ),
    }
    log_and_close(figures, tracker)


# -- saved models -----------------------------------------------------------------------


def load_faces_model(directory):
    """``(model, settings)`` from a directory written by `train_faces`.

    Raises FileNotFoundError or ValueError with one clear line when the directory is
    missing, incomplete, corrupt, or holds another kind of model.
    """
    return load_model_dir(directory, MODELS.values(), "faces", "tfdl faces train")


def evaluate_saved(directory, data=None, test_faces=None, *, log=None):
    """Held-out accuracy of a saved model, and mean face probability per test-face group.

    ``data`` None: the data the model was trained on (its h5 file when still there,
    else the offline data), with the same seeded split. Every image, held out or test
    face, is seen in the colour of the model's training data. Returns
    ``{"accuracy", "n", "model", "source", "data", "colour"[, "groups"]}``.
    """
    model, settings = load_faces_model(directory)
    seed = settings.get("seed", FacesConfig.seed)
    # The colour of the model's training data (a model saved before tfdl recorded it
    # saw images as they came).
    colour = settings.get("colour", RGB)
    if data is None and settings.get("source") == H5 and Path(settings.get("data", "")).exists():
        data = settings["data"]
    groups = load_test_faces(test_faces) if test_faces is not None else None
    faces = dataclasses.replace(load_faces(data, seed=seed), colour=colour)
    if log is not None:
        log(f"data: {faces.describe()}")
    result = {
        **held_out_accuracy(model, faces),
        "model": settings.get("model", type(model).__name__),
        "source": faces.source,
        "data": faces.path,
        "colour": colour,
    }
    if groups is not None:
        result["groups"] = group_probabilities(model, groups, colour)
    return result
