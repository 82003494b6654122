"""A trained model on disk: a directory with ``model.keras`` and ``settings.json``.

Every task saves its final model this way (music adds ``vocab.json``): each file is
written atomically (`tfdl.checkpoints.write_text_atomic`, a temporary file renamed into
place), so a crash never leaves half a model beside the settings of another. Loading
checks the model's class from the ``.keras`` config before any weights load, so a
directory of another task's model gets one clear line.
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path

from tfdl.checkpoints import make_readable, write_text_atomic
from tfdl.errors import MissingFileError, UserError

MODEL_FILE = "model.keras"
SETTINGS_FILE = "settings.json"


def save_model_dir(directory, model, settings):
    """Write ``model.keras`` and ``settings.json`` (a JSON-able dict), each atomically."""
    directory = Path(directory)
    save_model_file(model, directory / MODEL_FILE)
    write_text_atomic(directory / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")


def save_model_file(model, path):
    """``model.save(path)`` through a temporary file and a rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        make_readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model_dir(directory, models, kind, command):
    """``(model, settings)`` from a directory holding ``model.keras`` and ``settings.json``.

    ``models`` are the accepted model classes; the class is read from the ``.keras``
    file's config before any weights load, so a directory of another kind of model
    gets one clear line (naming ``kind``, e.g. "digits") instead of a Keras traceback.
    ``command`` names what writes such directories, for the error message.
    """
    import keras

    directory = Path(directory)
    path = directory / MODEL_FILE
    if not directory.is_dir():
        raise MissingFileError(f"no model directory at {directory}")
    if not path.is_file():
        raise MissingFileError(
            f"{directory} has no {MODEL_FILE}: not a model directory written by '{command}'"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            class_name = json.loads(archive.read("config.json")).get("class_name")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise UserError(f"cannot load {path}: not a .keras model file ({e})") from None
    names = [cls.__name__ for cls in models]
    if class_name not in names:
        raise UserError(f"{path} holds a {class_name}, not a {kind} model ({' or '.join(names)})")
    try:
        model = keras.models.load_model(path)
    except Exception as e:  # keras raises many types for a bad file; name the file instead
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load {path}: {first}") from None
    settings_path = directory / SETTINGS_FILE
    settings = json.loads(settings_path.read_text()) if settings_path.is_file() else {}
    return model, settings
