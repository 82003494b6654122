"""A trained music model on disk: ``model.keras``, ``vocab.json`` and ``settings.json``."""

from pathlib import Path

from tfdl.errors import MissingFileError, UserError
from tfdl.music.lookback import LookbackRNN
from tfdl.music.model import MusicRNN
from tfdl.music.vocab import Vocabulary
from tfdl.saving import MODEL_FILE, load_model_dir, save_model_dir

VOCAB_FILE = "vocab.json"


def save_music_model(directory, model, vocab, settings):
    """Write the model, its vocabulary and its settings (a JSON-able dict) to ``directory``."""
    directory = Path(directory)
    vocab.save(directory / VOCAB_FILE)
    save_model_dir(directory, model, settings)


def load_music_model(directory):
    """``(model, vocab, settings)`` from a directory written by `save_music_model`.

    Raises FileNotFoundError or ValueError with one clear line when the directory
    is missing, incomplete, or holds another kind of model.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingFileError(f"no model directory at {directory}")
    missing = [n for n in (MODEL_FILE, VOCAB_FILE) if not (directory / n).is_file()]
    if missing:
        raise MissingFileError(
            f"{directory} has no {' or '.join(missing)}: not a model directory written by "
            "'tfdl music train'"
        )
    vocab = Vocabulary.load(directory / VOCAB_FILE)
    models = [MusicRNN, LookbackRNN]
    model, settings = load_model_dir(directory, models, "music", "tfdl music train")
    if model.vocab_size != len(vocab):
        raise UserError(
            f"{directory}: the model has {model.vocab_size} characters but vocab.json "
            f"has {len(vocab)}"
        )
    return model, vocab, settings


def pretrained_dir():
    """The directory of the music model that ships inside tfdl (``tfdl/pretrained/music``)."""
    directory = Path(__file__).resolve().parent.parent / "pretrained" / "music"
    if not (directory / MODEL_FILE).is_file():
        raise MissingFileError(
            f"no pretrained model at {directory}: pass --model DIR (from 'tfdl music train')"
        )
    return directory
