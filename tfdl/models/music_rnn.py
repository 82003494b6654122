"""The old import path of `MusicRNN`, which now lives in `tfdl.music.model`.

Kept for code that still says ``from tfdl.models.music_rnn import MusicRNN``. ``.keras``
files saved when it lived here do not need it: Keras finds the class by its registered
name, ``tfdl>MusicRNN`` (tests/test_music_model.py loads such a file).
"""

from tfdl.music.model import MusicRNN  # noqa: F401
