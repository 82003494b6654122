"""Key transposition of ABC tunes: more music per tune to train on, in real keys.

folk-rnn transposes every tune to C. tfdl keeps real key signatures instead, because
its users ask for keys, and adds copies of each training tune in the other keys its
mode commonly takes in the corpus (`common_keys`): a reel in D is also learnt in G and
A, a jig in E minor in A minor and B minor.

Transposing a tune from tonic T1 to T2 of the same mode moves every note by the same
number of letters (D -> G: three) and semitones (D -> G: five, or down seven: the
shift within half an octave is taken, so the tune's range moves least). Notes that
follow the key signature need no accidental in the new key either: a key of the same
mode on the new tonic maps the old signature letter for letter. A written accidental
is written again, as the one the moved note needs (``=F``, F natural in D, moves five
semitones up to B flat in G: ``_B``). Since letters move one to one, an accidental
carries through its bar to the same notes as before. The ``K:``
line keeps the mode as written (``K:E Minor`` -> ``K:B Minor``).

Pure Python: no TensorFlow, no music21.
"""

import collections
import re

# Semitones of the natural notes above C, and the letters in scale order.
LETTERS = "CDEFGAB"
NATURAL = dict(zip(LETTERS, (0, 2, 4, 5, 7, 9, 11)))
# Position on the circle of fifths of each natural tonic (C 0, G 1, ..., F -1).
FIFTHS = dict(zip("FCGDAEB", range(-1, 6)))
SHARP_ORDER = "FCGDAEB"
FLAT_ORDER = SHARP_ORDER[::-1]
# A mode's signature relative to the major key on the same tonic, in fifths.
MODE_FIFTHS = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "min": -3, "aeo": -3, "phr": -4,
               "loc": -5, "lyd": 1}  # fmt: skip
# A tonic, then a mode: "m", or a mode's name (its first three letters decide); any case.
_KEY = re.compile(r"^(?P<tonic>[A-G][#b]?)(?P<space> *)(?P<mode>[A-Za-z]*)(?P<rest>.*)$")
# A note: its accidental, letter and octave marks.
_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([',]*)")
# Inline fields ([M:6/8]) and field lines inside the body are not music.
_INLINE_FIELD = re.compile(r"\[[A-Za-z]:[^\]\n]*\]")
_ACCIDENTAL = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_WRITTEN = {v: k for k, v in _ACCIDENTAL.items()}


class Key(collections.namedtuple("Key", "tonic mode")):
    """A key: ``tonic`` as written ("F#", "Bb") and ``mode`` ("maj", "min", "dor", ...)."""

    @property
    def fifths(self):
        """Sharps (> 0) or flats (< 0) of its key signature."""
        letter, accidental = self.tonic[0], self.tonic[1:]
        major = FIFTHS[letter] + {"": 0, "#": 7, "b": -7}[accidental]
        return major + MODE_FIFTHS[self.mode]

    def alteration(self, letter):
        """Semitones the key signature adds to ``letter`` (upper case): -1, 0 or 1."""
        fifths = self.fifths
        if fifths > 0:
            return int(letter in SHARP_ORDER[:fifths])
        return -int(letter in FLAT_ORDER[:-fifths])

    @property
    def pitch_class(self):
        return (NATURAL[self.tonic[0]] + {"": 0, "#": 1, "b": -1}[self.tonic[1:]]) % 12


def parse_key(text):
    """The `Key` of a ``K:`` value ("D", "Ador", "E Minor", "F#m"), or None when it is none
    of those (``K:Hp``, ``K:none``, a key of more than 7 sharps or flats)."""
    match = _KEY.match(text.strip())
    if match is None:
        return None
    word = match["mode"].lower()
    if word == "m":
        mode = "min"
    elif word == "":
        mode = "maj"
    elif word[:3] in MODE_FIFTHS:
        mode = word[:3]
    else:
        return None
    key = Key(match["tonic"], mode)
    return key if abs(key.fifths) <= 7 else None


def _key_line(header):
    """Index of the ``K:`` line in ``header`` lines, or None."""
    return next((i for i, line in enumerate(header) if line.startswith("K:")), None)


def tune_key(tune):
    """The `Key` of a tune's first ``K:`` line, or None."""
    lines = tune.split("\n")
    i = _key_line(lines)
    return None if i is None else parse_key(lines[i][2:])


def common_keys(tunes, share=0.05):
    """``{mode: [tonics]}``: the tonics each mode takes in at least ``share`` of the tunes
    in that mode, commonest first."""
    counts = collections.defaultdict(collections.Counter)
    for tune in tunes:
        key = tune_key(tune)
        if key is not None:
            counts[key.mode][key.tonic] += 1
    return {
        mode: [t for t, n in tonics.most_common() if n >= share * sum(tonics.values())]
        for mode, tonics in counts.items()
    }


def _shift(source, target):
    """``(letters, semitones)`` that move tonic ``source`` to ``target``: up, unless that
    is more than 6 semitones (then down). A tritone goes up from either side."""
    letters = (LETTERS.index(target.tonic[0]) - LETTERS.index(source.tonic[0])) % 7
    semitones = (
        NATURAL[target.tonic[0]] + {"": 0, "#": 1, "b": -1}[target.tonic[1:]]
        - NATURAL[source.tonic[0]] - {"": 0, "#": 1, "b": -1}[source.tonic[1:]]
    )  # fmt: skip
    if LETTERS.index(target.tonic[0]) < LETTERS.index(source.tonic[0]):
        semitones += 12  # the letters went past B
    if semitones > 6:
        letters, semitones = letters - 7, semitones - 12
    return letters, semitones


def _move_note(match, letters, semitones):
    accidental, letter, marks = match.groups()
    octave = (5 if letter.islower() else 4) + marks.count("'") - marks.count(",")
    letter = letter.upper()
    index = LETTERS.index(letter) + letters
    new_letter, new_octave = LETTERS[index % 7], octave + index // 7
    if accidental is None:  # as the signature says, in the old key and the new
        written = ""
    else:
        pitch = 12 * octave + NATURAL[letter] + _ACCIDENTAL[accidental] + semitones
        alteration = pitch - 12 * new_octave - NATURAL[new_letter]
        if alteration not in _WRITTEN:
            raise ValueError(f"no accidental writes {alteration} semitones on {new_letter}")
        written = _WRITTEN[alteration]
    if new_octave >= 5:
        return written + new_letter.lower() + "'" * (new_octave - 5)
    return written + new_letter + "," * (4 - new_octave)


def transpose_tune(tune, tonic):
    """``tune`` moved to the key of the same mode on ``tonic`` ("G", "Bb"), or None when it
    cannot be: no key, a key change in the body, or a note no accidental can write."""
    lines = tune.split("\n")
    i = _key_line(lines)
    source = None if i is None else parse_key(lines[i][2:])
    if source is None:
        return None
    target = Key(tonic, source.mode)
    if abs(target.fifths) > 7:
        return None
    letters, semitones = _shift(source, target)
    body = lines[i + 1 :]
    if any(line.startswith("K:") or "[K:" in line for line in body):
        return None  # a key change: the transposed key of each part would differ
    moved = []
    try:
        for line in body:
            if re.match(r"^[A-Za-z]:", line):  # a field line (P:, W:, ...)
                moved.append(line)
                continue
            music, percent, comment = line.partition("%")
            pieces = _INLINE_FIELD.split(music)
            fields = _INLINE_FIELD.findall(music)
            pieces = [
                _NOTE.sub(lambda m: _move_note(m, letters, semitones), piece)
                for piece in pieces
            ]
            music = "".join(p + f for p, f in zip(pieces, [*fields, ""]))
            moved.append(music + percent + comment)
    except ValueError:
        return None
    match = _KEY.match(lines[i][2:].strip())
    key_line = f"K:{tonic}{match['space']}{match['mode']}{match['rest']}"
    return "\n".join([*lines[:i], key_line, *moved])


def transpositions(tunes, keys=None):
    """Every tune of ``tunes`` in each other common key of its mode (`common_keys` of
    ``tunes`` unless ``keys`` is given), after the originals: ``(tunes, copies added)``."""
    keys = common_keys(tunes) if keys is None else keys
    out = list(tunes)
    for tune in tunes:
        key = tune_key(tune)
        if key is None:
            continue
        for tonic in keys.get(key.mode, []):
            if Key(tonic, key.mode).pitch_class == key.pitch_class:
                continue
            moved = transpose_tune(tune, tonic)
            if moved is not None:
                out.append(moved)
    return out, len(out) - len(tunes)
