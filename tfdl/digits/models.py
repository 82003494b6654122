"""Lab 2 part 1: two digit classifiers, a fully connected network and a small CNN.

Both take images (batch, 28, 28, 1) in [0, 1] and return class probabilities
(batch, num_classes), softmax outputs as in the lab, so ``model.predict`` gives
what the prediction plots show and the loss is sparse categorical cross-entropy.
"""

import keras


def _check_positive(owner, name, value):
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{owner} {name} must be a positive integer, got {value!r}")
    return int(value)


class _Stack(keras.Model):
    """A subclassed model that runs ``self.stack`` (a list of layers) in order."""

    def build(self, input_shape=(None, 28, 28, 1)):
        shape = tuple(input_shape)
        for layer in self.stack:
            try:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
            except ValueError:  # keras: "Computed output size would be zero or negative"
                shape = None
            if shape is None or any(d is not None and d < 1 for d in shape[1:]):
                raise ValueError(
                    f"{type(self).__name__}: input {tuple(input_shape)} shrinks to nothing "
                    f"at {layer.name}; use fewer or smaller convolutions"
                )

    def call(self, inputs, training=False):
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training)
        return x


@keras.saving.register_keras_serializable(package="tfdl")
class DigitDense(_Stack):
    """The lab's fully connected classifier: Flatten -> Dense relu -> Dense softmax.

    Args:
        hidden_units: int, width of the hidden layer (lab: 128).
        num_classes: int, number of classes (10 digits).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = DigitDense()
    >>> model(np.zeros((2, 28, 28, 1))).shape
    (2, 10)
    >>> model.count_params()  # 784 * 128 + 128 + 128 * 10 + 10
    101770
    """

    def __init__(self, hidden_units=128, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = _check_positive("DigitDense", "hidden_units", hidden_units)
        self.num_classes = _check_positive("DigitDense", "num_classes", num_classes)
        self.stack = [
            keras.layers.Flatten(),  # (batch, 784)
            keras.layers.Dense(self.hidden_units, activation="relu"),
            keras.layers.Dense(self.num_classes, activation="softmax"),  # (batch, classes)
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "num_classes": self.num_classes,
        }


@keras.saving.register_keras_serializable(package="tfdl")
class DigitCNN(_Stack):
    """The lab's CNN: [Conv 3x3 relu -> MaxPool 2x2] per filter count -> Dense -> softmax.

    Args:
        filters: sequence of ints, filters of each convolution block (lab: 24, 36).
        kernel_size: int, side of the square convolution kernels (lab: 3).
        hidden_units: int, width of the dense layer after flattening (lab: 128).
        num_classes: int, number of classes (10 digits).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = DigitCNN()  # 28 -> 26 -> 13 -> 11 -> 5: 5 * 5 * 36 = 900 features
    >>> model(np.zeros((2, 28, 28, 1))).shape
    (2, 10)
    >>> model.count_params()  # 240 + 7812 + 115328 + 1290
    124670
    """

    def __init__(self, filters=(24, 36), kernel_size=3, hidden_units=128, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(_check_positive("DigitCNN", "filters", f) for f in filters)
        if not self.filters:
            raise ValueError("DigitCNN filters must name at least one convolution, got ()")
        self.kernel_size = _check_positive("DigitCNN", "kernel_size", kernel_size)
        self.hidden_units = _check_positive("DigitCNN", "hidden_units", hidden_units)
        self.num_classes = _check_positive("DigitCNN", "num_classes", num_classes)
        self.stack = []
        for n in self.filters:  # each block: (b, h, w, c) -> (b, (h - k + 1) // 2, ..., n)
            self.stack.append(keras.layers.Conv2D(n, self.kernel_size, activation="relu"))
            self.stack.append(keras.layers.MaxPool2D(2))
        self.stack += [
            keras.layers.Flatten(),
            keras.layers.Dense(self.hidden_units, activation="relu"),
            keras.layers.Dense(self.num_classes, activation="softmax"),  # (batch, classes)
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "filters": list(self.filters),
            "kernel_size": self.kernel_size,
            "hidden_units": self.hidden_units,
            "num_classes": self.num_classes,
        }
