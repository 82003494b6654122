"""tfdl's subclassed Keras models (all registered under package "tfdl")."""

from tfdl.models.basics import IdentityModel, SubclassModel  # noqa: F401
