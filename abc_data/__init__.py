"""The shipped ABC corpus (installed as ``tfdl.abc_data``)."""
