"""tfdl's subclassed Keras models (all registered under package "tfdl").

Each lives with its task (`tfdl.music.model`,
`tfdl.music.lookback`, `tfdl.digits.models`, `tfdl.faces.models`);
this package gathers them, so ``from tfdl.models import MusicRNN`` keeps working, and
keeps the lab-1 basics (`tfdl.models.basics`).
"""

from tfdl.digits.models import DigitCNN, DigitDense  # noqa: F401
from tfdl.faces.models import DBVAE, FaceCNN  # noqa: F401
from tfdl.models.basics import IdentityModel, SubclassModel  # noqa: F401
from tfdl.music.lookback import LookbackRNN  # noqa: F401
from tfdl.music.model import MusicRNN  # noqa: F401
