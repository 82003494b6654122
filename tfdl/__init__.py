"""tfdl: the MIT 6.S191 labs 1 and 2 as a Keras 3 package you can keep.

Importing tfdl registers every custom layer and model with Keras, so
``keras.models.load_model("x.keras")`` works without ``custom_objects``. It starts
TensorFlow without its C++ log lines (`tfdl.quiet`; ``TFDL_VERBOSE=1`` shows them).
"""

__version__ = "0.1.0"

from tfdl.quiet import start_tensorflow  # noqa: E402

start_tensorflow()  # before anything else imports TensorFlow: no C++ start-up noise

from tfdl import layers, models  # noqa: E402,F401  (registration side effect)
from tfdl.layers import DenseLayer, Sampling  # noqa: E402,F401
