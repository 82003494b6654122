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

from tfdl.music.notation import (
    INLINE_FIELD,
    KEY,
    LETTERS,
    NATURAL,
    NOTE,
    Key,
    key_index,
    parse_key,
    tune_key,
)

_ACCIDENTAL = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_WRITTEN = {v: k for k, v in _ACCIDENTAL.items()}

__all__ = ["Key", "common_keys", "parse_key", "transpose_tune", "transpositions", "tune_key"]


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
    semitones = target.semitones - source.semitones
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
    i = key_index(lines)
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

    def move(note):
        return _move_note(note, letters, semitones)

    moved = []
    try:
        for line in body:
            if re.match(r"^[A-Za-z]:", line):  # a field line (P:, W:, ...)
                moved.append(line)
                continue
            music, percent, comment = line.partition("%")
            out, pos = [], 0
            for field in INLINE_FIELD.finditer(music):  # [P:A] holds no notes
                out += [NOTE.sub(move, music[pos : field.start()]), field[0]]
                pos = field.end()
            moved.append("".join(out) + NOTE.sub(move, music[pos:]) + percent + comment)
    except ValueError:
        return None
    match = KEY.match(lines[i][2:].strip())
    new_key = f"K:{tonic}{match['space']}{match['mode']}{match['rest']}"
    return "\n".join([*lines[:i], new_key, *moved])


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
