"""The pieces of ABC notation that several readers share, each written once.

Field lines and the fields allowed in a tune's body, the ``K:`` line and keys, the
``C`` and ``C|`` meters, a note and an inline field. The readers built on them: the
corpus loader (`tfdl.music.abc`), the bar reader (`tfdl.music.meter`), the limits
(`tfdl.music.limits`), the cleaner, the form reader, the sampler's grammar and the
transposer. Pure Python: no TensorFlow, no music21.
"""

import collections
import re

# A field line: one letter (or + for a continuation), a colon, its value.
FIELD_LINE = re.compile(r"([A-Za-z+]):(.*)")
# Fields ABC 2.1 allows after K:; in the body any other "A:"-like line is music.
BODY_FIELDS = frozenset("IKLMmNPQrsTUVWw+")
# The meters written as symbols: common time and cut time.
COMMON_TIME = {"C": "4/4", "C|": "2/2"}
# A note: accidental, letter, octave marks. NOTE_PATTERN has no groups, to build other
# patterns from; NOTE captures the three parts.
NOTE_PATTERN = r"(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*"
NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)")
# An inline field, [M:6/8]: its letter and its value.
INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")
# Text of a tune's body that holds no notes: quoted strings (chord symbols, annotations),
# decorations and inline fields.
NOT_NOTES = re.compile(r'"[^"\n]*"|![^!\n]*!|\[[A-Za-z]:[^\]\n]*\]')


def key_index(lines, default=None):
    """The index of the first ``K:`` line in ``lines`` (a tune split at newlines), or
    ``default`` when there is none. The header ends there."""
    return next((n for n, line in enumerate(lines) if line.startswith("K:")), default)


# -- keys -----------------------------------------------------------------------------

LETTERS = "CDEFGAB"
# Semitones of the natural notes above C.
NATURAL = dict(zip(LETTERS, (0, 2, 4, 5, 7, 9, 11)))
# Position on the circle of fifths of each natural tonic (C 0, G 1, ..., F -1).
_FIFTHS = dict(zip("FCGDAEB", range(-1, 6)))
_SHARP_ORDER = "FCGDAEB"
_FLAT_ORDER = _SHARP_ORDER[::-1]
# A mode's signature relative to the major key on the same tonic, in fifths.
MODE_FIFTHS = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "min": -3, "aeo": -3, "phr": -4,
               "loc": -5, "lyd": 1}  # fmt: skip
_ACCIDENTAL = {"": 0, "#": 1, "b": -1}
# What a musician calls each mode.
MODE_NAMES = {"maj": "major", "ion": "major", "min": "minor", "aeo": "minor", "mix": "mixolydian",
              "dor": "dorian", "phr": "phrygian", "lyd": "lydian", "loc": "locrian"}  # fmt: skip
# A tonic, then a mode: "m", or a mode's name (its first three letters decide); any case.
KEY = re.compile(r"^(?P<tonic>[A-G][#b]?)(?P<space> *)(?P<mode>[A-Za-z]*)(?P<rest>.*)$")


class Key(collections.namedtuple("Key", "tonic mode")):
    """A key: ``tonic`` as written ("F#", "Bb") and ``mode`` ("maj", "min", "dor", ...)."""

    @property
    def fifths(self):
        """Sharps (> 0) or flats (< 0) of its key signature."""
        return _FIFTHS[self.tonic[0]] + 7 * _ACCIDENTAL[self.tonic[1:]] + MODE_FIFTHS[self.mode]

    def alteration(self, letter):
        """Semitones the key signature adds to ``letter`` (upper case): -1, 0 or 1."""
        if self.fifths > 0:
            return int(letter in _SHARP_ORDER[: self.fifths])
        return -int(letter in _FLAT_ORDER[: -self.fifths])

    @property
    def semitones(self):
        """The tonic's semitones above the C below its letter (Cb: -1, B#: 12)."""
        return NATURAL[self.tonic[0]] + _ACCIDENTAL[self.tonic[1:]]

    @property
    def pitch_class(self):
        """The tonic's semitones above C, 0-11."""
        return self.semitones % 12

    @property
    def name(self):
        """The key as a musician says it: "A dorian"."""
        return f"{self.tonic} {MODE_NAMES[self.mode]}"


def parse_key(text):
    """The `Key` of a ``K:`` value ("D", "Ador", "E Minor", "F#m"), or None when it is none
    of those (``K:Hp``, ``K:none``, a key of more than 7 sharps or flats)."""
    match = KEY.match(text.strip())
    if match is None:
        return None
    word = match["mode"].lower()
    if word in ("", "m"):
        mode = "maj" if word == "" else "min"
    elif word[:3] in MODE_FIFTHS:
        mode = word[:3]
    else:
        return None
    key = Key(match["tonic"], mode)
    return key if abs(key.fifths) <= 7 else None


def tune_key(tune):
    """The `Key` of a tune's first ``K:`` line, or None."""
    lines = tune.split("\n")
    n = key_index(lines)
    return None if n is None else parse_key(lines[n][2:])


def plain_key(text):
    """True when a ``K:`` value is a `Key` and nothing more ("Ador", "E minor"; not
    "G exp ^f", "none" or "Hp")."""
    match = KEY.match(text.strip())
    return match is not None and not match["rest"].strip() and parse_key(text) is not None


def tonic_letter(tune):
    """The tonic's letter of a tune's first ``K:`` line, whatever its mode ("K:D Bry":
    "D"), or None (no ``K:`` line, ``K:none``)."""
    lines = tune.split("\n")
    n = key_index(lines)
    match = None if n is None else KEY.match(lines[n][2:].strip())
    return match["tonic"][0] if match else None
