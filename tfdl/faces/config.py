"""The face models' settings: one dataclass, importable without TensorFlow.

A bad value raises `tfdl.errors.UserError` (a ValueError) naming it.
"""

from dataclasses import dataclass

from tfdl.errors import UserError

# The models `tfdl.faces.train.MODELS` builds, by name.
MODEL_NAMES = ("cnn", "dbvae")


@dataclass
class FacesConfig:
    # "cnn": the lab's standard classifier; "dbvae": the debiasing VAE.
    model: str = "cnn"
    # The lab's 2 epochs over its ~100k images. The offline data has 800 train images
    # (25 batches an epoch), so it needs more epochs: 10 gives ~50 s on 2 CPU cores.
    epochs: int = 10
    # The lab's batch size, for both models (at least 2: each batch is half faces).
    batch_size: int = 32
    # The lab's learning rate (Adam), for both models.
    learning_rate: float = 5e-4
    # The lab's size of the DB-VAE's latent space (dbvae only).
    latent_dim: int = 100
    # The lab's first-layer filter count.
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
        if self.model not in MODEL_NAMES:
            names = ", ".join(MODEL_NAMES)
            raise UserError(f"unknown model {self.model!r}; choose one of {names}")
        for name in ("epochs", "batch_size", "latent_dim", "n_filters", "bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.batchnorm_momentum < 1:
            raise UserError(
                f"batchnorm_momentum must be in [0, 1), got {self.batchnorm_momentum!r}"
            )
        if self.batch_size < 2:
            raise UserError(f"batch_size must be at least 2 (half faces), got {self.batch_size}")
        for name in ("learning_rate", "kl_weight", "smoothing"):
            if not getattr(self, name) > 0:
                raise UserError(f"{name} must be > 0, got {getattr(self, name)!r}")
