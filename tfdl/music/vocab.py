"""The character vocabulary of the music model: char <-> id, saved as JSON beside the model."""

import json
from pathlib import Path

import numpy as np

from tfdl.errors import MissingFileError, UserError


class Vocabulary:
    """A sorted set of characters; id ``i`` stands for ``chars[i]``.

    Example:

    >>> vocab = Vocabulary.from_text("abca")
    >>> vocab.encode("cab").tolist()
    [2, 0, 1]
    """

    def __init__(self, chars):
        chars = list(chars)
        if not chars or len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("a vocabulary needs distinct single characters, at least one")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def unknown(self, text):
        """Characters of ``text`` that this vocabulary lacks, sorted."""
        return sorted(set(text) - self.index.keys())

    def encode(self, text):
        """``text`` as an int32 array of ids; a clear error names any unknown characters."""
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(c) for c in missing)
            raise UserError(f"characters not in the vocabulary: {shown}")
        return np.fromiter((self.index[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)

    def to_json(self):
        return json.dumps({"chars": self.chars}, ensure_ascii=False)

    def save(self, path):
        from tfdl.checkpoints import write_text_atomic

        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            return cls(json.loads(path.read_text(encoding="utf-8"))["chars"])
        except FileNotFoundError:
            raise MissingFileError(f"no vocabulary file at {path}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path} is not a tfdl vocabulary file ({e})") from None
