"""Clean tunes for training: rewrite what has one right answer, drop what cannot be mended.

Transcriptions carry marks a player reads but a character model only learns as noise,
and a few habits that ABC players reject. `clean_tune` rewrites, in the tune body:

- decorations and bowings (``. ~ H L M O P S T u v``, ``!trill!``, ``+trill+``, and
  the non-standard bowing ``k``) and backquotes (beaming hints): removed, the notes stay;
- quoted chord symbols, annotations and fingerings (``"G"``, ``"^Segno"``, ``"4"``):
  removed (chord symbols are accompaniment, not the tune);
- bar-line variants: ``[|]`` (an invisible bar) removed; ``:|:`` and ``:||:`` become
  ``::``, ``:||`` becomes ``:|``, ``||:`` becomes ``|:``, and endings written ``|[1``,
  ``| [1`` or ``:|[2`` become ``|1`` and ``:|2``;
- a ``:|`` followed by a part with a first ending but no ``|:`` becomes ``::`` (the part
  repeats from there: the only reading, and the one abc2midi assumes);
- a tie ``-`` between two different pitches (a slur in some transcribers' hands)
  is removed;
- broken rhythm between notes of unequal length (``A2>B``): written out as the
  lengths ABC 2.1 gives it (the first note dotted, the second halved: ``A3B/``);

and in the header drops ``R:`` (the rhythm's name; abc2midi plays "hornpipe" swung
and rejects it outside 2/4 and 4/4). Then the tune must pass the header check and
`tfdl.music.meter.check_bars` in its strict form (``pickup_parts=False``: a pickup
that opens a later part must be completed by the bar before it, as abc2midi wants),
or it is dropped with the reason: a corpus every ABC player accepts.
"""

import re
from fractions import Fraction

from tfdl.music import limits
from tfdl.music.meter import check_bars, length_value
from tfdl.music.notation import INLINE_FIELD, NOTE_PATTERN, key_index

# `k` is no ABC 2.1 symbol: Ryan's transcribers used it as a bowing mark, and abc2midi
# ignores it ("Ignoring reserved character k").
_DECORATION = re.compile(r"![^!\n]*!|\+[^+\n]*\+|[.~HLMOPSTuv`k]")
_QUOTED = re.compile(r'"[^"\n]*"')
_BAR_VARIANTS = (
    (re.compile(r"\[\|\]"), ""),
    (re.compile(r":\|\|:|:\|:"), "::"),
    (re.compile(r":\|\|(?![:\d\[])"), ":|"),
    (re.compile(r"(?<![:|])\|\|:"), "|:"),
    (re.compile(r"(\|) ?\[(\d)"), r"\1\2"),
)
_NOTE = NOTE_PATTERN
_BROKEN = re.compile(rf"({_NOTE})(\d*/*\d*)(\)?\s*)(>+|<+)(\s*\(?)({_NOTE})(\d*/*\d*)")
_TIE = re.compile(rf"({_NOTE})(\d*/*\d*)-([\s|:\]\[\d)(]*)({_NOTE})")


def _pieces(line):
    """Split a music line into (is_protected, text): inline fields are left alone."""
    pieces, pos = [], 0
    for match in INLINE_FIELD.finditer(line):
        pieces.append((False, line[pos : match.start()]))
        pieces.append((True, match[0]))
        pos = match.end()
    pieces.append((False, line[pos:]))
    return pieces


def length_text(value):
    """The shortest ABC length suffix for a Fraction: 1 -> "", 2 -> "2", 1/2 -> "/"."""
    num, den = value.numerator, value.denominator
    head = "" if num == 1 and den != 1 else str(num)
    if den == 1:
        return "" if num == 1 else head
    return head + ("/" if den == 2 else f"/{den}")


def _pitch(note):
    letter = note.lstrip("^_=")[0]
    return letter, note.count("'") - note.count(",")


def _mend_broken(match):
    note1, len1, close, arrows, opening, note2, len2 = match.groups()
    a, b = length_value(len1), length_value(len2)
    if a == b:
        return match[0]
    shift = Fraction(1, 2 ** len(arrows))
    first, second = (2 - shift, shift) if arrows[0] == ">" else (shift, 2 - shift)
    return f"{note1}{length_text(a * first)}{close}{opening}{note2}{length_text(b * second)}"


def _mend_tie(match):
    note1, len1, between, note2 = match.groups()
    if _pitch(note1) == _pitch(note2):
        return match[0]
    return f"{note1}{len1}{between}{note2}"


def clean_music_line(line):
    """One line of music with the rewrites of the module docstring."""
    out = []
    for protected, text in _pieces(line):
        if not protected:
            text = _QUOTED.sub("", text)
            text = _DECORATION.sub("", text)
            for pattern, replacement in _BAR_VARIANTS:
                text = pattern.sub(replacement, text)
            text = _BROKEN.sub(_mend_broken, text)
            text = _TIE.sub(_mend_tie, text)
        out.append(text)
    return re.sub(r"  +", " ", "".join(out)).strip()


_REPEAT_MARK = re.compile(r":\|(?!\d)|\|:|::|[|\[]\d")


def _open_repeats(tune):
    """``:|`` becomes ``::`` where the next repeat mark is an ending (see module doc)."""
    marks = list(_REPEAT_MARK.finditer(tune))
    for mark, following in zip(marks, marks[1:]):
        if mark[0] == ":|" and following[0][1] == "1" and following.start() > mark.end():
            tune = tune[: mark.start()] + "::" + tune[mark.end() :]
    return tune


def clean_tune(tune):
    """``(cleaned tune, None)``, or ``(None, reason)`` for a tune that cannot be mended.

    ``tune`` is a normalised tune (`tfdl.music.abc.normalise_tune`).
    """
    from tfdl.music.songs import header_problem

    beyond = limits.tune_problem(tune)  # before a number is read (A999999, M:4/99999...)
    if beyond:
        return None, str(beyond)
    lines = tune.split("\n")
    key_line = key_index(lines)
    header = [line for line in lines[:key_line] if not line.startswith("R:")]
    body = []
    for line in lines[key_line + 1 :]:
        if re.match(r"[A-Za-z+]:", line):
            body.append(line)
        else:
            line = clean_music_line(line)
            if line:
                body.append(line)
    cleaned = _open_repeats("\n".join([*header, lines[key_line], *body]))
    problem = header_problem(cleaned)
    if problem:
        return None, problem
    bars = check_bars(cleaned, pickup_parts=False)
    if not bars.metrical:
        return None, bars.reason
    return cleaned, None
