"""TensorFlow started late and quietly, and tfdl's Keras objects registered when Keras loads.

``import tfdl`` imports neither TensorFlow nor Keras, so ``tfdl --help`` and the pure-Python
parts (the ABC tools) start at once. Instead `watch_imports` puts a finder on
``sys.meta_path`` that acts at the first import of each, by anyone:

- ``tensorflow``: it runs with file descriptor 2 pointed at /dev/null, devices listed,
  then stderr is put back. Importing TensorFlow and probing for a GPU print several lines
  from C++ straight to descriptor 2 (oneDNN notes, CPU features, and on a machine without
  a GPU ``E0000 ... failed call to cuInit``, which reads like a failure), and
  ``TF_CPP_MIN_LOG_LEVEL`` silences only some of them. ``TFDL_VERBOSE=1`` lets them through.
  Python exceptions are not affected: they are raised after stderr is restored.
- ``keras``: once it has loaded, tfdl's layers and models are imported, which registers
  them (package ``"tfdl"``), so ``keras.models.load_model("x.keras")`` finds them with
  no ``custom_objects``, as it did when ``import tfdl`` loaded everything.
"""

import contextlib
import importlib.abc
import os
import sys


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


def _verbose():
    return os.environ.get("TFDL_VERBOSE") == "1"


def _load_tensorflow_quietly(load):
    """Run ``load`` (TensorFlow's import) and list the devices, with descriptor 2 silenced
    unless TFDL_VERBOSE=1."""
    if _verbose():
        load()
        return
    # 3: no C++ INFO, WARNING or ERROR lines later either (oneDNN logs an "E0000" note
    # when it falls back to Eigen for int32 ops, at the first such op).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        load()  # the CUDA probe logs when the devices are listed, not at import


def start_tensorflow():
    """Import TensorFlow now (quietly: see the module docstring), e.g. before timing."""
    import tensorflow  # noqa: F401  (the first import goes through _FirstImport)


def register_keras_objects():
    """Import every module that registers a tfdl layer or model with Keras."""
    import tfdl.layers  # noqa: F401
    import tfdl.models  # noqa: F401


def _loading_tfdl(besides):
    """True while a tfdl module other than ``besides`` is part-way through its import."""
    return any(
        name.startswith("tfdl.") and name != besides
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )  # fmt: skip


class _FirstImport(importlib.abc.MetaPathFinder):
    """Wraps the loading of ``tensorflow``, ``keras`` and tfdl's own modules.

    Registering tfdl's Keras objects imports tfdl modules, so when Keras is first
    imported by a tfdl module (``tfdl.training``, say), registration waits until no tfdl
    module is part-way through its import: a module cannot be imported while it is
    still running its own imports.
    """

    def __init__(self):
        self.registration_due = False

    def find_spec(self, name, path, target=None):
        if name not in ("tensorflow", "keras") and not name.startswith("tfdl."):
            return None
        for finder in sys.meta_path:  # the finder that would have found it without us
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module  # each spec has a loader of its own: safe to wrap

        def exec_module(module):
            if name == "tensorflow":
                _load_tensorflow_quietly(
                    lambda: (load(module), module.config.list_physical_devices())
                )
                return
            load(module)
            self.registration_due |= name == "keras"
            if self.registration_due and not _loading_tfdl(besides=name):
                self.registration_due = False
                register_keras_objects()

        spec.loader.exec_module = exec_module
        return spec


def watch_imports():
    """Start TensorFlow quietly and register tfdl with Keras whenever they are first imported."""
    if "keras" in sys.modules:  # loaded before tfdl: register now
        register_keras_objects()
        return
    if not any(isinstance(finder, _FirstImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _FirstImport())
