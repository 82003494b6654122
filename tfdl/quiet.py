"""A quiet TensorFlow start: no C++ log lines on stderr unless ``TFDL_VERBOSE=1``.

Importing TensorFlow and probing for a GPU print several lines from C++ straight to
file descriptor 2 (oneDNN notes, CPU features, and on a machine without a GPU
``E0000 ... failed call to cuInit``, which reads like a failure). ``TF_CPP_MIN_LOG_LEVEL``
silences only some of them, so `start_tensorflow` points descriptor 2 at /dev/null
while TensorFlow imports and lists its devices, then puts it back. Python exceptions
are not affected: they are raised after stderr is restored.
"""

import contextlib
import os


@contextlib.contextmanager
def _stderr_silenced():
    stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(devnull)


def start_tensorflow():
    """Import TensorFlow and find its devices, quietly unless TFDL_VERBOSE=1."""
    if os.environ.get("TFDL_VERBOSE") == "1":
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    # 3: no C++ INFO, WARNING or ERROR lines later either (oneDNN logs an "E0000" note
    # when it falls back to Eigen for int32 ops, at the first such op).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, not at import
