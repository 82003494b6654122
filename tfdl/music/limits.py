"""Limits of what tfdl reads: the size of a tune and the numbers in it, checked first.

ABC text comes from anywhere (a pasted tune, a file for ``evaluate``, a studio
request, a model's output), and a number in it can ask for any amount of work: a
rest of ``Z999999999`` bars, an ending ``|1-999999999``, a note ``B999999`` that
music21 takes minutes to lay out, a meter ``M:1000/1``, a 5,000-digit length that
Python refuses to convert. Every reader in tfdl (the bar reader, the cleaner, the
song check, music21 behind it, the MIDI writer) therefore sees a text only after
this module has found it within bounds. A text out of bounds gets a `Problem`,
one line naming the value and the limit; no number is converted before its digits
are counted.

The bounds come from the tunes tfdl ships (`abc_data/folk_tunes.abc`, 3,360 tunes)
and the three music21 collections it is built from (4,248 tunes before cleaning),
measured by ``bench/abc_limits_survey.py``; all of music21's folk collections
(12,948 tunes with essenFolksong and miscFolk) reach note lengths of 32, ``L:1/32``
and ``M:4/1``. Each bound is several times the largest value found, so no real tune
comes near it:

=========================  =====================  =====
number                     largest: corpus, raw   bound
=========================  =====================  =====
tune size, characters      1,340, 2,438           6,000
bar lines in a tune        88, 133                192
characters of one bar      41, 75                 160
slurs open at once         3, 3                   16
tuplets under a slur       33, 33                 40
note length multiplier     8, 8                   64
note length divisor        8, 8                   64
meter numerator (beats)    12, 12                 32
meter denominator          8, 8                   64
``L:`` numerator           1, 1                   4
``L:`` denominator         16, 16                 64
ending number              2, 2                   8
multi-bar rest ``Z``       none, 2                64
tuplet ``(p:q:r`` number   6, 9                   16
tempo, beats a minute      176, 176               500
tempo beat ``Q:3/8=``      3/8, 3/8               16/64
=========================  =====================  =====

The size and bar bounds keep music21's parse of a tune to a few seconds: its time
grows with the square of the bars when they are overfull (measured on a shared
2-core machine: 128 such bars 0.7 s, 256 bars 6 s, 800 bars 40 s; 200 long bars of
7,400 characters 6.5 s; 200 slurs left open 13 s; one bar 200 times too long, 2,400
characters, 6 s). Tuplets begun under an open slur, ``((3efg)``, cost music21 about
the cube of their number (on the same machine, busy with training: 33 of them 6 s,
50 20 s, 64 33 s, 100 135-180 s; 200 slurs with no tuplet, 6 s), so their bound is
close to the largest real count: 33, in 2 of 3,360 tunes. The studio's songs (a
prime of 2,000 characters and 2,000 more) stay within them. The note length bound
keeps music21's layout of one note fast (``B256`` takes 0.5 s, ``B1024`` 5 s).

Pure Python: no TensorFlow, keras or music21 here.
"""

import re
from dataclasses import dataclass

from tfdl.music.notation import BODY_FIELDS, FIELD_LINE

MAX_TUNE_CHARS = 6_000
MAX_BARS = 192  # bar lines in a tune
MAX_BAR_CHARS = 160  # characters of music in one bar (annotations and spaces not counted)
MAX_OPEN_SLURS = 16  # slurs begun and not yet ended
MAX_SLURRED_TUPLETS = 40  # tuplets begun while a slur is open, in a whole tune
MAX_NOTE_MULTIPLIER = 64
MAX_NOTE_DIVISOR = 64
MAX_METER_BEATS = 32  # the numerator, or the sum of an additive one (2+3+2/8)
MAX_METER_DIVISOR = 64
MAX_UNIT_MULTIPLIER = 4
MAX_UNIT_DIVISOR = 64
MAX_ENDING = 8
MAX_REST_BARS = 64
MAX_TUPLET = 16
MAX_TEMPO = 500
MAX_BEAT_MULTIPLIER = 16
MAX_BEAT_DIVISOR = 64
# No bound above needs more digits than this: a longer number is refused unread.
_DIGITS = 4

# Fields whose values carry numbers tfdl or music21 reads; the rest (T:, W:, N:, ...)
# are text. M:, L: and Q: have bounds of their own; in the others any number counts.
_NUMBER_FIELDS = frozenset("MLQKVPImU")
_NUMBER = re.compile(r"[0-9]+")
_TOKEN = re.compile(
    r"""
    (?P<comment>%.*)
  | (?P<quoted>"[^"]*")                                  # chord symbol or annotation
  | (?P<decoration>![^!]*!|\+[^+]*\+)
  | \[(?P<key>[A-Za-z]):(?P<value>[^\]]*)\]               # inline field
  | (?P<bar>:*(?:\[\||\|\]|\|\||\|):*|::+)(?P<bar_ending>[0-9]+(?:[,-][0-9]+)*)?
  | \[(?P<ending>[0-9]+(?:[,-][0-9]+)*)
  | \((?P<tuplet>[0-9]+(?::[0-9]*){0,2})
  | [ZX](?P<rest>[0-9]+)
  | (?:[A-Ga-gzxy][,']*|\])(?P<length>[0-9]*/*[0-9]*)
  | (?P<number>[0-9]+)                                   # a number where ABC puts none
  | (?P<other>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Problem:
    """A text beyond tfdl's limits: ``part`` is ``"tune"`` (its size), ``"header"`` or
    ``"body"``; ``message`` is one line naming the value and the bound (in the body it
    starts with ``"bar N: "``)."""

    part: str
    message: str

    def __str__(self):
        return self.message


def _value(digits, bound):
    """The number ``digits`` if it is at most ``bound``, else None (never converts more
    than `_DIGITS` digits)."""
    if len(digits.lstrip("0")) > _DIGITS:
        return None
    value = int(digits)
    return value if value <= bound else None


def _shown(text, most=20):
    return text if len(text) <= most else text[:most] + "..."


def _foreign_digit(text):
    """The first digit in ``text`` that is not 0-9 (``²``, ``٣``), or None: Python reads
    some as numbers and regular expressions' ``\\d`` matches some, ABC neither."""
    return next((c for c in text if c.isdigit() and not "0" <= c <= "9"), None)


def field_problem(key, value):
    """Why the value of field ``key`` (``"M"``, ``"L"``, ``"Q"``, ...) is beyond the limits,
    as one line, or None. Values that are not numbers where ABC wants them are left to
    the field checks (`tfdl.music.songs.header_problem`)."""
    value = value.strip()
    shown = f"{key}:{_shown(value)}"
    foreign = _foreign_digit(value)
    if foreign is not None and key in _NUMBER_FIELDS:
        return f"{shown}: {foreign!r} is no ABC digit (numbers are written 0-9)"
    if key == "M":
        match = re.fullmatch(r"([0-9]+(?:\+[0-9]+)*)/([0-9]+)", value.replace(" ", ""))
        if match:
            beats = [_value(n, MAX_METER_BEATS) for n in match[1].split("+")]
            if None in beats or sum(beats) > MAX_METER_BEATS:
                return f"{shown}: a meter has at most {MAX_METER_BEATS} beats in tfdl"
            if _value(match[2], MAX_METER_DIVISOR) is None:
                return f"{shown}: a meter's beat is at most 1/{MAX_METER_DIVISOR} in tfdl"
            return None
    elif key == "L":
        match = re.fullmatch(r"([0-9]+)/([0-9]+)", value)
        if match:
            if _value(match[1], MAX_UNIT_MULTIPLIER) is None:
                return f"{shown}: a unit length is at most {MAX_UNIT_MULTIPLIER}/1 in tfdl"
            if _value(match[2], MAX_UNIT_DIVISOR) is None:
                return f"{shown}: a unit length is at least 1/{MAX_UNIT_DIVISOR} in tfdl"
            return None
    elif key == "Q":
        text = re.sub(r'"[^"]*"', "", value)  # "Allegro"
        for num, den in re.findall(r"([0-9]+)/([0-9]+)", text):
            if _value(num, MAX_BEAT_MULTIPLIER) in (None, 0):
                return f"{shown}: a tempo's beat has 1 to {MAX_BEAT_MULTIPLIER} parts in tfdl"
            if _value(den, MAX_BEAT_DIVISOR) in (None, 0):
                return f"{shown}: a tempo's beat is at least 1/{MAX_BEAT_DIVISOR} in tfdl"
        tempo = re.search(r"(?:^|=)\s*([0-9]+)\s*$", text)
        if tempo and _value(tempo[1], MAX_TEMPO) in (None, 0):
            return f"{shown}: a tempo is 1 to {MAX_TEMPO} beats a minute in tfdl"
    if key in _NUMBER_FIELDS:
        for number in _NUMBER.findall(value):
            if len(number.lstrip("0")) > _DIGITS:
                return f"{shown}: a number of {len(number)} digits (tfdl reads at most {_DIGITS})"
    return None


def header_problem(lines):
    """The `Problem` of the first header line (``M:``, ``L:``, ``Q:``, ...) beyond the
    limits, or None. ``lines`` are the header's lines (no body)."""
    for line in lines:
        match = FIELD_LINE.fullmatch(line.strip())
        if match:
            problem = field_problem(match[1], match[2])
            if problem:
                return Problem("header", problem)
    return None


def _numbers_problem(kind, digits_list, bound):
    for digits in digits_list:
        if _value(digits, bound) is None:
            return f"{kind} {_shown(digits)}: tfdl reads at most {bound}"
    return None


def _length_problem(length):
    """A note length suffix (``3/2``, ``//``, ``/64``) beyond the limits, or None."""
    match = re.fullmatch(r"([0-9]*)(/*)([0-9]*)", length)
    num, slashes, den = match.groups()
    if num and _value(num, MAX_NOTE_MULTIPLIER) is None:
        return f"a note length {_shown(length)}: tfdl reads at most {MAX_NOTE_MULTIPLIER}"
    if not slashes:
        return None if not den else f"a note length {_shown(length)}"  # not reached
    # "/" halves, each further "/" halves again; "/4" divides by 4, "//4" by 8
    divisor = _value(den, MAX_NOTE_DIVISOR) if den else 2
    if divisor is None or len(slashes) > 7 or divisor * 2 ** (len(slashes) - 1) > MAX_NOTE_DIVISOR:
        return f"a note length {_shown(length)}: tfdl divides a note by at most {MAX_NOTE_DIVISOR}"
    return None


def body_problem(text, bar=1, glued=False, line_start=True):
    """The `Problem` of the first thing in a tune body beyond the limits, or None.

    ``text`` is the body (or the next piece of it, as `tfdl.music.meter.BarReader` is
    fed); ``bar`` is the number of the bar it starts in, and ``glued`` is True when it
    continues right after a bar line (so a number at its start is an ending, ``|1``);
    ``line_start`` is False when it continues a line (a field line starts only a line).
    The message names the bar as the bar reader counts them.
    """
    in_bar, slurs = 0, 0  # characters of music in the bar so far; slurs open
    slurred_tuplets = 0
    for n, line in enumerate(text.split("\n")):
        if n:
            glued, line_start = False, True
        match = FIELD_LINE.match(line) if line_start else None
        if match and match[1] in BODY_FIELDS:
            problem = field_problem(match[1], match[2])
            if problem:
                return Problem("body", f"bar {bar}: {problem}")
            continue
        if glued and line[:1].isascii() and line[:1].isdigit():  # "|" fed before "1": an ending
            line = "|" + line
            bar -= 1
        for token in _TOKEN.finditer(line):
            problem = None
            if token["bar"]:
                in_bar = 0
                if bar > MAX_BARS:  # the bar line that would close bar MAX_BARS + 1
                    problem = f"a tune has at most {MAX_BARS} bar lines in tfdl"
                else:
                    bar += 1
                    if token["bar_ending"]:
                        problem = _ending_problem(token["bar_ending"])
            elif token["key"]:
                problem = field_problem(token["key"], token["value"])
            elif token["ending"]:
                problem = _ending_problem(token["ending"])
            elif token["tuplet"]:
                numbers = [n for n in token["tuplet"].split(":") if n]
                problem = _numbers_problem("a tuplet number", numbers, MAX_TUPLET)
                slurred_tuplets += slurs > 0
                if slurred_tuplets > MAX_SLURRED_TUPLETS and not problem:
                    problem = f"more than {MAX_SLURRED_TUPLETS} tuplets under slurs in a tune"
            elif token["rest"]:
                problem = _numbers_problem("a rest of bars", [token["rest"]], MAX_REST_BARS)
            elif token["length"]:
                problem = _length_problem(token["length"])
            elif token["number"]:
                bound = MAX_NOTE_MULTIPLIER
                problem = _numbers_problem("a number", [token["number"]], bound)
            elif token["other"] and token["other"].isdigit():
                problem = f"{token['other']!r} is no ABC digit (numbers are written 0-9)"
            # music21's time grows fast with an overfull bar and with slurs left open
            if not (token["bar"] or token["comment"] or token["quoted"] or token["decoration"]):
                in_bar += len(token[0].strip())
                if in_bar > MAX_BAR_CHARS and not problem:
                    problem = f"a bar of more than {MAX_BAR_CHARS} characters of music"
            if token["other"] in ("(", ")"):
                slurs = slurs + 1 if token["other"] == "(" else max(slurs - 1, 0)
                if slurs > MAX_OPEN_SLURS and not problem:
                    problem = f"more than {MAX_OPEN_SLURS} slurs open at once"
            if problem:
                return Problem("body", f"bar {bar}: {problem}")
    return None


def _ending_problem(text):
    numbers = re.split(r"[,-]", text)
    return _numbers_problem("an ending", numbers, MAX_ENDING)


def size_problem(text):
    """The `Problem` of a tune longer than `MAX_TUNE_CHARS`, or None."""
    if len(text) <= MAX_TUNE_CHARS:
        return None
    return Problem(
        "tune",
        f"the tune has {len(text):,} characters; tfdl reads tunes of at most {MAX_TUNE_CHARS:,}",
    )


def tune_problem(text):
    """The `Problem` of a whole tune (header and body) beyond the limits, or None.

    Checked in this order: the size (`MAX_TUNE_CHARS`), the header, then the body.
    The header is the field lines up to the first ``K:`` line; the first line that is
    no field starts the body even before ``K:`` (music21 reads a tune without ``K:``).
    """
    problem = size_problem(text)
    if problem:
        return problem
    lines = text.strip("\n").split("\n")
    end = next(
        (n for n, line in enumerate(lines) if line.startswith("K:") or not FIELD_LINE.match(line)),
        len(lines),
    )
    if end < len(lines) and lines[end].startswith("K:"):
        end += 1  # the K: line ends the header
    problem = header_problem(lines[:end])
    if problem:
        return problem
    return body_problem("\n".join(lines[end:]))
