"""Lab 2 part 2: a face classifier and the debiasing VAE (``tfdl faces train|evaluate``).

The story of the lab, top to bottom: load faces and not-faces (`tfdl.faces.data`),
build the standard CNN or the DB-VAE (`tfdl.faces.models`), train with the shared
GradientTape `Trainer` on balanced batches, where the DB-VAE redraws each epoch's
faces with probabilities that favour faces rare in its latent space
(`sample_probabilities`), then measure held-out accuracy and the mean face
probability on folders of test faces, one folder per group.

A trained model directory holds ``model.keras``, ``settings.json``, ``history.json``,
``loss.png``, ``checkpoints/``, ``comet/`` (offline tracking) and, for the DB-VAE,
``reconstructions.png`` and ``likely_faces.png``.
"""

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfdl.faces.data import H5, IMAGE_SHAPE, Faces, check_images, load_faces, load_test_faces
from tfdl.faces.losses import cnn_loss, dbvae_loss
from tfdl.faces.models import DBVAE, FaceCNN
from tfdl.saving import load_model_dir
from tfdl.task import run_training
from tfdl.training import TrainConfig, Trainer

MODELS = {"cnn": FaceCNN, "dbvae": DBVAE}


@dataclass
class FacesConfig:
    # "cnn": the lab's standard classifier; "dbvae": the debiasing VAE.
    model: str = "cnn"
    # The lab's 2 epochs over its ~100k images. The offline data has 800 train images
    # (25 batches an epoch), so it needs more epochs: 10 gives ~50 s on 2 CPU cores.
    epochs: int = 10
    # The lab's batch size and learning rate (Adam), for both models.
    batch_size: int = 32
    learning_rate: float = 5e-4
    # The lab's latent size and first-layer filter count.
    latent_dim: int = 100
    n_filters: int = 12
    # Keras' (and the lab's) 0.99 averages batch-norm statistics over ~100 steps: fine
    # for the lab's 6,000 steps, but after 250 offline steps the moving statistics
    # still lag the weights and held-out accuracy drops to ~50 % (94 % with batch
    # statistics). 0.9 averages over ~10 steps.
    batchnorm_momentum: float = 0.9
    # The lab's VAE weights: a small KL term keeps the latent space usable for sampling.
    kl_weight: float = 5e-4
    # The lab's resampling histogram: 10 bins per latent dimension, density + 0.001.
    bins: int = 10
    smoothing: float = 1e-3
    # One seed for the split, the weights and the batches: runs repeat exactly.
    seed: int = 0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        for name in ("epochs", "batch_size", "latent_dim", "n_filters", "bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.batchnorm_momentum < 1:
            raise ValueError(
                f"batchnorm_momentum must be in [0, 1), got {self.batchnorm_momentum!r}"
            )
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (half faces), got {self.batch_size}")
        for name in ("learning_rate", "kl_weight", "smoothing"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")


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


def _epoch_dataset(faces, batch_size, rng, p_faces=None):
    """One epoch of balanced batches, drawn now (so the trainer sees exactly these)."""
    batches = list(faces.batches(batch_size, rng, p_faces))
    return tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=_signature())


def _test_dataset(faces, batch_size=256):
    """The held-out images, read a chunk at a time."""
    index = faces.test_index

    def chunks():
        for start in range(0, len(index), batch_size):
            part = index[start : start + batch_size]
            yield faces.read(part), faces.labels[part]

    return tf.data.Dataset.from_generator(chunks, output_signature=_signature())


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
    out = []
    for start in range(0, len(index), batch_size):
        x = faces.read(index[start : start + batch_size])
        out.append(np.asarray(model.encode(ops.convert_to_tensor(x))[1]))
    return np.concatenate(out)


def held_out_accuracy(model, faces):
    """``{"accuracy", "n"}`` on the held-out split."""
    probs = face_probabilities(model, faces.read(faces.test_index))
    labels = faces.labels[faces.test_index]
    return {"accuracy": float(np.mean((probs > 0.5) == (labels == 1))), "n": int(len(labels))}


def group_probabilities(model, groups):
    """``{group: mean face probability}`` over test-face groups (see `load_test_faces`)."""
    return {
        name: float(np.mean(face_probabilities(model, check_images(images, f"group {name}"))))
        for name, images in groups.items()
    }


# -- training ----------------------------------------------------------------------------


def train_faces(
    config=None,
    out_dir="runs/faces",
    data=None,
    *,
    tracking="offline",
    progress=True,
    log=None,
):
    """Train the CNN or the DB-VAE, measure held-out accuracy, save; returns settings.

    Args:
        config: a `FacesConfig`.
        out_dir: the model directory (see the module docstring).
        data: the lab's ``train_face.h5``; None: the offline scikit-image data; or a `Faces`.
        tracking: "off", "offline" or "online" (see `tfdl.tracking`).
        progress: show progress bars.
        log: called with one line saying which data is used (e.g. ``print``).
    """
    config = config or FacesConfig()
    out_dir = Path(out_dir)
    faces = data if isinstance(data, Faces) else load_faces(data, seed=config.seed)
    if log is not None:
        log(f"data: {faces.describe()}")
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = max(1, len(faces.train_index) // config.batch_size)

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
        p_faces = None
        for epoch in range(config.epochs):
            if config.model == "dbvae":
                # The lab: recompute the faces' sampling probabilities before every epoch.
                mu = latent_means(model, faces, faces.train_faces)
                p_faces = sample_probabilities(mu, config.bins, config.smoothing)
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
                _epoch_dataset(faces, config.batch_size, rng, p_faces),
                val_data=_test_dataset(faces),
                resume=epoch > 0,
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

    facts = {"source": faces.source, "data": faces.path, "train_images": len(faces.train_index)}
    return run_training(
        "faces", config, out_dir, facts, build_model, fit, evaluate, tracking=tracking
    )


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
    else the offline data), with the same seeded split. Returns
    ``{"accuracy", "n", "model", "source", "data"[, "groups"]}``.
    """
    model, settings = load_faces_model(directory)
    seed = settings.get("seed", FacesConfig.seed)
    if data is None and settings.get("source") == H5 and Path(settings.get("data", "")).exists():
        data = settings["data"]
    groups = load_test_faces(test_faces) if test_faces is not None else None
    faces = load_faces(data, seed=seed)
    if log is not None:
        log(f"data: {faces.describe()}")
    result = {
        **held_out_accuracy(model, faces),
        "model": settings.get("model", type(model).__name__),
        "source": faces.source,
        "data": faces.path,
    }
    if groups is not None:
        result["groups"] = group_probabilities(model, groups)
    return result
