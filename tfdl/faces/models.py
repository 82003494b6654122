"""Lab 2 part 2: a face / not-face CNN and the debiasing VAE (DB-VAE) built on it.

Both take RGB images (batch, 64, 64, 3) in [0, 1]. `FaceCNN` returns one logit per
image (face when > 0). `DBVAE` uses the same network as its encoder, with
1 + 2 * latent_dim outputs: the class logit, the latent mean and the latent
log-variance; its decoder only learns faces (see `debiasing_loss`).
"""

import keras
import tensorflow as tf

from tfdl.layers import Sampling

IMAGE_SHAPE = (64, 64, 3)  # (height, width, channels), the lab's train_face.h5


def _check_positive(owner, name, value):
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{owner} {name} must be a positive integer, got {value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="tfdl")
class FaceCNN(keras.Model):
    """The lab's standard classifier: 4 strided conv + batch-norm blocks, Dense 512, logits.

    Args:
        n_filters: int, filters of the first convolution; the next ones have 2x, 4x,
            6x as many (lab: 12).
        n_outputs: int, number of logits (1 for face / not-face; 1 + 2 * latent for
            the DB-VAE's encoder).
        hidden_units: int, width of the dense layer (lab: 512).
        batchnorm_momentum: float, momentum of the batch-norm moving averages (Keras and
            the lab: 0.99, an average over ~100 steps; short runs need less).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = FaceCNN()  # 64 -> 32 -> 16 -> 8 -> 4: 4 * 4 * 72 = 1152 features
    >>> model(np.zeros((2, 64, 64, 3))).shape
    (2, 1)
    """

    def __init__(
        self, n_filters=12, n_outputs=1, hidden_units=512, batchnorm_momentum=0.99, **kwargs
    ):
        super().__init__(**kwargs)
        if not 0 <= batchnorm_momentum < 1:
            raise ValueError(
                f"FaceCNN batchnorm_momentum must be in [0, 1), got {batchnorm_momentum!r}"
            )
        self.batchnorm_momentum = float(batchnorm_momentum)
        self.n_filters = _check_positive("FaceCNN", "n_filters", n_filters)
        self.n_outputs = _check_positive("FaceCNN", "n_outputs", n_outputs)
        self.hidden_units = _check_positive("FaceCNN", "hidden_units", hidden_units)
        self.stack = []
        # (multiple of n_filters, kernel): each block halves height and width ("same", stride 2).
        for mult, kernel in ((1, 5), (2, 5), (4, 3), (6, 3)):
            self.stack.append(
                keras.layers.Conv2D(
                    mult * self.n_filters, kernel, strides=2, padding="same", activation="relu"
                )
            )
            self.stack.append(keras.layers.BatchNormalization(momentum=self.batchnorm_momentum))
        self.stack += [
            keras.layers.Flatten(),
            keras.layers.Dense(self.hidden_units, activation="relu"),
            keras.layers.Dense(self.n_outputs),  # (batch, n_outputs) logits
        ]
        # tf.train.Checkpoint (the trainer's checkpoints) does not look into a Keras 3
        # model's list of layers: without this it would miss the batch-norm statistics
        # (which no optimizer holds). Keras does not see it: .keras files are unchanged.
        self.checkpointed_layers = tf.train.Checkpoint(layers=list(self.stack))

    def build(self, input_shape=(None, *IMAGE_SHAPE)):
        shape = tuple(input_shape)
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=False):
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "n_filters": self.n_filters,
            "n_outputs": self.n_outputs,
            "hidden_units": self.hidden_units,
            "batchnorm_momentum": self.batchnorm_momentum,
        }


def make_face_decoder(n_filters=12):
    """The lab's decoder: Dense -> Reshape (4, 4, 6 n) -> 4 Conv2DTranspose up to (64, 64, 3).

    Like the lab, every layer (the last one too) is ReLU: images are >= 0.
    """
    n = _check_positive("face decoder", "n_filters", n_filters)

    def up(filters, kernel):
        return keras.layers.Conv2DTranspose(
            filters, kernel, strides=2, padding="same", activation="relu"
        )

    return keras.Sequential(
        [
            keras.layers.Dense(4 * 4 * 6 * n, activation="relu"),
            keras.layers.Reshape((4, 4, 6 * n)),  # (batch, 4, 4, 6n)
            up(4 * n, 3),  # (batch, 8, 8, 4n)
            up(2 * n, 3),  # (batch, 16, 16, 2n)
            up(n, 5),  # (batch, 32, 32, n)
            up(3, 5),  # (batch, 64, 64, 3)
        ],
        name="decoder",
    )


@keras.saving.register_keras_serializable(package="tfdl")
class DBVAE(keras.Model):
    """The lab's debiasing VAE: a `FaceCNN` encoder (class logit, mean, log-variance) + decoder.

    ``call(x)`` returns ``(y_logit (b, 1), z_mean (b, D), z_logvar (b, D), recon (b, 64, 64, 3))``;
    `predict_logit` returns the class logit alone.

    Args:
        latent_dim: int, size of the latent space (lab: 100).
        n_filters: int, as for `FaceCNN` (lab: 12).
        seed: int or None, seeds the `Sampling` layer.
        batchnorm_momentum: float, as for `FaceCNN`.
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = DBVAE(latent_dim=8)
    >>> [tuple(t.shape) for t in model(np.zeros((2, 64, 64, 3)))]
    [(2, 1), (2, 8), (2, 8), (2, 64, 64, 3)]
    """

    def __init__(self, latent_dim=100, n_filters=12, seed=None, batchnorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = _check_positive("DBVAE", "latent_dim", latent_dim)
        self.n_filters = _check_positive("DBVAE", "n_filters", n_filters)
        self.seed = seed
        self.encoder = FaceCNN(
            self.n_filters,
            n_outputs=2 * self.latent_dim + 1,
            batchnorm_momentum=batchnorm_momentum,
            name="encoder",
        )
        self.batchnorm_momentum = self.encoder.batchnorm_momentum
        self.decoder = make_face_decoder(self.n_filters)
        self.sampling = Sampling(seed=seed, name="sampling")

    def build(self, input_shape=(None, *IMAGE_SHAPE)):
        self.encoder.build(tuple(input_shape))
        self.decoder.build((input_shape[0], self.latent_dim))

    def encode(self, x, training=False):
        out = self.encoder(x, training=training)  # (batch, 1 + 2 D)
        d = self.latent_dim
        return out[:, :1], out[:, 1 : d + 1], out[:, d + 1 :]

    def decode(self, z):
        return self.decoder(z)

    def predict_logit(self, x, training=False):
        return self.encode(x, training=training)[0]

    def call(self, inputs, training=False):
        y_logit, z_mean, z_logvar = self.encode(inputs, training=training)
        z = self.sampling([z_mean, z_logvar])
        return y_logit, z_mean, z_logvar, self.decode(z)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "n_filters": self.n_filters,
            "seed": self.seed,
            "batchnorm_momentum": self.batchnorm_momentum,
        }
