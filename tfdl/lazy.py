"""Package attributes imported on first use (PEP 562), so importing a package stays cheap.

A package lists what it offers, name -> module, and gets ``__getattr__`` and ``__dir__``:

    __getattr__, __dir__ = lazy_exports(__name__, {"DigitCNN": "tfdl.digits.models"})

``from tfdl.digits import DigitCNN`` then imports ``tfdl.digits.models`` (and so Keras)
only when it is asked for, and ``tfdl digits --help`` never does.
"""

import importlib


def lazy_exports(package, exports):
    """``(__getattr__, __dir__)`` for ``package``, serving ``exports`` (name -> module)."""

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted([*vars(importlib.import_module(package)), *exports])

    return __getattr__, __dir__
