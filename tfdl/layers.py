"""Custom Keras layers from lab 1 (the dense layer) and lab 2 (VAE sampling)."""

import keras
import numpy as np
from keras import ops


def _last_dim(input_shape, layer_name):
    """The size of the feature axis, or a clear error when it is unknown."""
    if input_shape is None or len(input_shape) < 1 or input_shape[-1] is None:
        raise ValueError(
            f"{layer_name} needs an input whose last dimension is known; got shape {input_shape}"
        )
    return int(input_shape[-1])


@keras.saving.register_keras_serializable(package="tfdl")
class DenseLayer(keras.layers.Layer):
    """The lab's "OurDenseLayer": y = sigmoid(x · W + b).

    By default it is the lab's layer to the digit: W of shape ``(d, units)``, then b of
    shape ``(1, units)``, both drawn in that order from Glorot-uniform, the initializer
    that the lab's ``add_weight`` calls get when they name none. So after
    ``keras.utils.set_random_seed(1)`` a ``DenseLayer(3)`` built for 2 inputs gives the
    lab's ``test_custom_dense_layer_output`` value on ``[[1, 2]]``. Pass
    ``bias_initializer="zeros"`` for the usual zero bias of ``keras.layers.Dense``.

    Args:
        units: int, the number of output features.
        kernel_initializer: initializer of W (the lab's: Glorot-uniform).
        bias_initializer: initializer of b (the lab's: Glorot-uniform; Keras Dense:
            zeros).
        **kwargs: standard `keras.layers.Layer` arguments (name, dtype, ...).

    Example:

    >>> layer = DenseLayer(3)
    >>> layer(np.ones((1, 2))).shape
    (1, 3)
    """

    def __init__(
        self, units, kernel_initializer="glorot_uniform", bias_initializer="glorot_uniform",
        **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"DenseLayer units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        d = _last_dim(input_shape, "DenseLayer")
        self.W = self.add_weight(
            name="weight", shape=(d, self.units), initializer=self.kernel_initializer
        )
        # (1, units) as in the lab: a row that broadcasts over the batch.
        self.b = self.add_weight(
            name="bias", shape=(1, self.units), initializer=self.bias_initializer
        )

    def call(self, x):
        return ops.sigmoid(ops.matmul(x, self.W) + self.b)  # (..., units)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def load_own_variables(self, store):
        # tfdl 0.1.0 saved b with shape (units,); it is the same row, so it loads.
        if len(store) == 2 and tuple(store["1"].shape) == (self.units,):
            store = {"0": store["0"], "1": np.reshape(store["1"], (1, self.units))}
        super().load_own_variables(store)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="tfdl")
class Sampling(keras.layers.Layer):
    """VAE reparameterisation: z = mean + exp(0.5 · logvar) · ε, ε ~ N(0, I).

    Called on a pair ``(z_mean, z_logvar)`` of equal shape ``(batch, latent)``.

    Args:
        seed: int or None, seeds the layer's `keras.random.SeedGenerator`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> z = Sampling(seed=0)([np.zeros((2, 4)), np.zeros((2, 4))])
    >>> z.shape
    (2, 4)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"Sampling takes a pair (z_mean, z_logvar); got input shape {input_shape}"
            )
        mean_shape, logvar_shape = (tuple(s) for s in input_shape)
        _last_dim(mean_shape, "Sampling")
        if mean_shape[1:] != logvar_shape[1:]:
            raise ValueError(
                f"Sampling needs z_mean and z_logvar of one shape; got {mean_shape} and "
                f"{logvar_shape}"
            )

    def call(self, inputs):
        z_mean, z_logvar = inputs  # (batch, latent) each
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_logvar) * eps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
