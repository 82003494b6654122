"""Atomic training checkpoints: a crash at any moment leaves the last good one loadable.

Layout under ``DIR``::

    DIR/ckpt-00000100/state.index, state.data-*   # tf.train.Checkpoint of model, optimizer, ...
    DIR/ckpt-00000100/meta.json                   # step, model identity
    DIR/latest                                    # name of the newest complete checkpoint

Each checkpoint is written into a hidden temporary directory and renamed into place.
A reader therefore only ever sees complete checkpoints, whatever moment a writer died
at. The newest of them is the one with the highest step: ``latest`` names it for
people and tools, but a crash between a rename and the pointer's update can leave it
naming an older one, so `CheckpointDir.latest` does not trust it.
"""

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from tfdl.errors import UserError

_PREFIX = "ckpt-"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, unreadable or belongs to another model."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_readable(path):
    """Give a mkstemp file (created 0600) the mode an ordinary new file would have."""
    os.chmod(path, 0o666 & ~_umask())


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        make_readable(tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_identity(model):
    """What must match for a checkpoint to fit ``model``: its class and weight shapes.

    (Configs are not compared: they hold auto-generated layer names that differ
    between two builds of the same architecture.)
    """
    shapes = [list(map(int, w.shape)) for w in model.weights]
    return {"class": type(model).__name__, "weight_shapes": shapes}


class CheckpointDir:
    """Saves and restores ``tf.train.Checkpoint`` objects atomically in one directory.

    Args:
        directory: where checkpoints live (created on first save).
        keep: how many of the newest checkpoints to keep.
    """

    def __init__(self, directory, keep=3):
        self.directory = Path(directory)
        self.keep = int(keep)

    def _complete(self):
        """Complete checkpoint directories, oldest (lowest step) first."""
        if not self.directory.is_dir():
            return []
        found = [
            p
            for p in self.directory.iterdir()
            if p.name.startswith(_PREFIX)
            and p.name[len(_PREFIX) :].isdigit()
            and (p / "meta.json").is_file()
        ]
        return sorted(found, key=lambda p: int(p.name[len(_PREFIX) :]))

    def latest(self):
        """The newest complete checkpoint directory (the highest step), or None."""
        complete = self._complete()
        return complete[-1] if complete else None

    def save(self, checkpoint, step, meta):
        """Write ``checkpoint`` (a tf.train.Checkpoint) for ``step`` with JSON ``meta``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{_PREFIX}{int(step):08d}"
        tmp = Path(tempfile.mkdtemp(dir=self.directory, prefix=f".tmp-{final.name}-"))
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700
            checkpoint.write(str(tmp / "state"))
            # meta.json last: its presence marks the directory complete.
            write_text_atomic(tmp / "meta.json", json.dumps({**meta, "step": int(step)}))
            if final.exists():  # same step saved twice (e.g. Ctrl-C right after a save)
                trash = Path(tempfile.mkdtemp(dir=self.directory, prefix=".trash-"))
                os.replace(final, trash / final.name)
                os.replace(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # The pointer names the newest checkpoint, which may be a newer one than this.
        write_text_atomic(self.directory / "latest", self.latest().name + "\n")
        for old in self._complete()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def read_meta(self, path=None):
        """The meta.json of ``path`` (default: the latest checkpoint)."""
        path = Path(path) if path is not None else self.latest()
        if path is None:
            raise CheckpointError(f"no checkpoint to resume from in {self.directory}")
        try:
            return json.loads((path / "meta.json").read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"unreadable checkpoint {path}: {e}") from None

    def restore(self, checkpoint, identity=None, path=None):
        """Restore the checkpoint ``path`` (default: the latest) into ``checkpoint``;
        returns its meta.

        Raises CheckpointError when there is none, or when ``identity`` (see
        `model_identity`) differs from the one the checkpoint was saved with.
        """
        path = Path(path) if path is not None else self.latest()
        meta = self.read_meta(path)
        saved = meta.get("model")
        if identity is not None and saved is not None and saved != identity:
            raise CheckpointError(
                f"checkpoint {path} is from a different model: saved {_describe(saved)}, "
                f"now {_describe(identity)}"
            )
        try:
            checkpoint.read(str(path / "state")).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError) as e:
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(
                f"checkpoint {path} does not fit this model: {first_line}"
            ) from None
        return meta


def _describe(identity):
    shapes = identity.get("weight_shapes", [])
    n_params = sum(math.prod(s) for s in shapes)
    return f"{identity.get('class')} with {len(shapes)} weights, {n_params:,} parameters"
