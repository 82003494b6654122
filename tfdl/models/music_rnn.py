"""Where `MusicRNN` lived before it moved to `tfdl.music.model`; ``.keras`` files saved
then record this module, and old imports name it."""

from tfdl.music.model import MusicRNN  # noqa: F401
