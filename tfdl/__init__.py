"""tfdl: the MIT 6.S191 labs 1 and 2 as a Keras 3 package you can keep.

Importing tfdl registers every custom layer and model with Keras, so
``keras.models.load_model("x.keras")`` works without ``custom_objects``.
"""

__version__ = "0.1.0"

from tfdl import layers, models  # noqa: E402,F401  (registration side effect)
from tfdl.layers import DenseLayer, Sampling  # noqa: E402,F401
