"""tfdl: the MIT 6.S191 labs 1 and 2 as a Keras 3 package you can keep.

``import tfdl`` is instant: TensorFlow and Keras load when something first needs them.
When Keras loads, every tfdl layer and model is registered with it, so
``keras.models.load_model("x.keras")`` works without ``custom_objects``; TensorFlow
starts without its C++ log lines (`tfdl.quiet`; ``TFDL_VERBOSE=1`` shows them).
"""

__version__ = "0.1.0"

from tfdl.lazy import lazy_exports  # noqa: E402
from tfdl.quiet import watch_imports  # noqa: E402

watch_imports()

__getattr__, __dir__ = lazy_exports(
    __name__, {"DenseLayer": "tfdl.layers", "Sampling": "tfdl.layers"}
)
