"""Lab 1 part 1: a subclassed model, the identity model, and GradientTape basics."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfdl")
class SubclassModel(keras.Model):
    """The lab's SubclassModel: one Dense layer with a sigmoid.

    Args:
        n_output_nodes: int, the number of outputs.
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> SubclassModel(3)(np.ones((1, 2))).shape
    (1, 3)
    """

    def __init__(self, n_output_nodes, **kwargs):
        super().__init__(**kwargs)
        self.n_output_nodes = int(n_output_nodes)
        self.dense = keras.layers.Dense(self.n_output_nodes, activation="sigmoid")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "n_output_nodes": self.n_output_nodes}


@keras.saving.register_keras_serializable(package="tfdl")
class IdentityModel(SubclassModel):
    """SubclassModel that returns its input unchanged when called with ``isidentity=True``."""

    def call(self, inputs, isidentity=False):
        if isidentity:
            return inputs
        return self.dense(inputs)


def derivative_of_square(x):
    """dy/dx of y = x², computed with a GradientTape (6.0 at x = 3)."""
    x = tf.Variable(float(x))
    with tf.GradientTape() as tape:
        y = x * x
    return float(tape.gradient(y, x))


def minimise_squared_distance(x_f, *, learning_rate=1e-2, steps=500, seed=0):
    """Gradient descent on L = (x − x_f)², from a random start; returns (x, history of x).

    The lab's first optimisation: the tape gives dL/dx = 2(x − x_f) and each step
    moves x against it, so x converges to x_f geometrically (factor 1 − 2·lr).
    """
    if learning_rate <= 0 or steps < 1:
        raise ValueError(f"need learning_rate > 0 and steps >= 1, got {learning_rate}, {steps}")
    x = tf.Variable(tf.random.stateless_normal([], seed=[seed, 0]))
    history = []
    for _ in range(int(steps)):
        with tf.GradientTape() as tape:
            loss = (x - x_f) ** 2
        x.assign_sub(learning_rate * tape.gradient(loss, x))
        history.append(float(x))
    return float(x), history
