"""tfdl's subclassed Keras models (all registered under package "tfdl")."""

from tfdl.models.basics import IdentityModel, SubclassModel  # noqa: F401
from tfdl.models.digits import DigitCNN, DigitDense  # noqa: F401
from tfdl.models.faces import DBVAE, FaceCNN  # noqa: F401
from tfdl.models.music_rnn import MusicRNN  # noqa: F401
