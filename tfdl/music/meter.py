"""Bar lengths: does every bar of an ABC tune last what its meter says?

music21 reads bars of any length, so a tune can parse and still be unplayable for a
musician. `check_bars` reads the tune body itself, with no external program, and
plays it through the way abcMIDI's ``abc2midi`` does (our test oracle):

- durations: ``L:`` and note lengths (``3``, ``/``, ``3/2``), broken rhythm (``>`` ``<``
  between notes of equal length), tuplets ``(p:q:r``, chords (the first note's length),
  grace notes ``{...}`` (no time), rests ``z`` ``x`` and multi-bar rests ``Z4``, ties;
  ``M:`` and ``L:`` changes on their own line or inline (``[M:3/4]``);
- bar lines are followed in playback order (`tfdl.music.playorder`, whose rules the
  MIDI writer plays too): ``|: ... :|`` and ``::`` repeat, endings (``|1`` ``:|2``
  ``[1`` ``[1,3``) are played on their pass, and a ``:|`` with no ``|:`` repeats from
  the last ``:|`` (or the start), as abc2midi assumes;
- a bar may be short only where music allows it: the first bar (an anacrusis), a
  bar closed by a repeat sign or double bar (it continues after the repeat or in the
  next part: the closing bar completes the anacrusis), and, beyond abc2midi, a bar
  that opens a new part after a double bar or repeat (a pickup into the second part,
  which abc2midi flags although musicians write it everywhere);
- empty bars (``||`` split over lines, ``|]`` after ``|``) take no time and are skipped.

Syntax abc2midi rejects with an error is rejected here too, naming the bar: an
unclosed chord, quote or decoration, a tie to another pitch, broken rhythm between
notes of unequal length, a character that is no ABC, a repeat that never closes.

`BarReader` does the same incrementally, one bar at a time, for the sampler: it can be
copied at a bar line and fed the next bar, so a bad bar can be redrawn.

`meter_length` and `length_value` give `fractions.Fraction`s of a whole note; inside,
durations are whole numbers of `TICKS` per whole note (a Fraction per note made the
sampler's bar checks several times slower).
"""

import copy
import re
from dataclasses import dataclass, field
from fractions import Fraction

from tfdl.music import limits
from tfdl.music.notation import (
    BODY_FIELDS,
    COMMON_TIME,
    FIELD_LINE,
    INLINE_FIELD,
    NOTE,
    NOTE_PATTERN,
    key_index,
)
from tfdl.music.playorder import BACK, SAVE, SKIP, OpenRepeat, RepeatError, play_steps

# The decoration letters of ABC 2.1 (section 4.14) and their one-character shorthands.
DECORATIONS = frozenset(".~HLMOPSTuv")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)", re.ASCII)
# Ticks per whole note: note lengths down to 1/1024 and tuplets of 3, 5, 7 and 9 count
# exactly.
TICKS = 2**10 * 3**2 * 5 * 7
_CHORD_NOTE = NOTE.pattern + r"([\d/]*)(-?)"  # with its length and a tie
_METER = re.compile(r"(\d+(?:\+\d+)*)/(\d+)", re.ASCII)
# A bar line: colons, then |, ||, |] or [| (or :: alone), then colons.
_BAR = re.compile(r"(:*)(\[\||\|\]|\|\||\|)(:*)|(::+)")
_ENDING = re.compile(r"\[?(\d+(?:[,-]\d+)*)", re.ASCII)
# abc2midi reads any quoted text as a chord symbol or annotation, except one that starts
# with a letter other than A-G (e.g. "Segno"), which it rejects.
_QUOTED = re.compile(r"(?![H-Za-z]).*")
# str.isdigit() is also True for "²" and "٣": ABC numbers are these ten.
_DIGITS = frozenset("0123456789")


class BarError(ValueError):
    """Syntax in a tune body that abc2midi rejects; the message names the bar."""


def meter_length(meter):
    """The length of a bar under ``M:`` as a Fraction of a whole note; None for free meter.

    ``C`` is 4/4, ``C|`` 2/2, ``2+3/8`` 5/8; ``none`` (or anything else) is None, and
    so is a meter beyond `tfdl.music.limits` (``1000/1``).
    """
    meter = meter.strip()
    if limits.field_problem("M", meter):
        return None
    meter = COMMON_TIME.get(meter, meter)
    match = _METER.fullmatch(meter)
    if not match or int(match[2]) == 0:
        return None
    return Fraction(sum(int(n) for n in match[1].split("+")), int(match[2]))


def _unit_length(value):
    if limits.field_problem("L", value):
        return None
    match = re.fullmatch(r"\s*(\d+)/(\d+)\s*", value)
    if not match or int(match[1]) == 0 or int(match[2]) == 0:
        return None
    return Fraction(int(match[1]), int(match[2]))


def _length_parts(match):
    """``(num, den)`` of a `_LENGTH` match: ``3/2`` -> (3, 2), ``//`` -> (1, 4)."""
    num, slashes, den = match.groups()
    num = int(num) if num else 1
    den = (int(den) if den else 2) * 2 ** (len(slashes) - 1) if slashes else 1
    return num, den


def length_value(text):
    """A note length suffix (``""``, ``2``, ``/``, ``//``, ``3/2``, ``/4``) as a Fraction."""
    return Fraction(*_length_parts(_LENGTH.fullmatch(text)))


def _length(text, pos):
    """``((num, den), end)``: the note length multiplier that starts at ``text[pos]``."""
    match = _LENGTH.match(text, pos)
    num, den = _length_parts(match)
    if num == 0 or den == 0:
        raise BarError("a note of length 0")
    if den & (den - 1):
        raise BarError(f"a note length /{den}: divide by 2, 4, 8, ... (or write a tuplet)")
    return (num, den), match.end()


def _ticks(value):
    """A Fraction of a whole note in ticks; None stays None."""
    if value is None:
        return None
    ticks = value * TICKS
    if ticks.denominator != 1:
        raise BarError(f"{value} of a whole note is too fine to count")
    return int(ticks)


def _scaled(ticks, num, den, bar):
    """``ticks * num / den``, exactly, or a BarError."""
    value, rest = divmod(ticks * num, den)
    if rest:
        raise BarError(f"bar {bar}: a note length too fine to count")
    return value


@dataclass
class Event:
    """One thing in playback: a duration (``kind="time"``), a bar line or an ending."""

    kind: str  # "time", "bar", "ending"
    bar: int  # the written bar it belongs to (1 = the first)
    duration: int = 0  # ticks
    bar_kind: str = ""  # single, double, start, end, both
    endings: tuple = ()
    meter: int | None = None  # the bar length in force, in ticks (None: free meter)
    meter_text: str = ""
    voice: str = ""  # the V: it is in ("" before any): voices are played side by side


@dataclass
class _Note:
    """The last note, rest or chord read: broken rhythm and ties look back at it."""

    duration: int  # ticks
    pitch: tuple | None  # (letter, octave); None for a rest or a chord of several pitches
    event: Event  # the time event its duration went into


@dataclass
class BarReader:
    """Reads a tune body bar by bar and keeps the events for `playback_problems`.

    ``feed(text)`` takes the next piece of the body (whole lines or whole bars); state
    that spans bars (unit length, meter, a pending tie) is kept between calls, and
    ``copy()`` is a snapshot to go back to. Raises `BarError`.
    """

    unit: int = TICKS // 8  # L:, in ticks
    meter: int | None = None  # M:, in ticks
    meter_text: str = ""
    events: list = field(default_factory=list)
    bar: int = 1
    at_line_start: bool = True
    after_bar: bool = True
    tie_pitch: tuple | None = None  # (letter, octave) of a tied note awaiting its partner
    bar_just_closed: bool = False  # the last character read ended a bar line
    notes: int = 0
    header_parts: frozenset = frozenset()  # the parts P: in the header plays, e.g. ABA
    parts: frozenset = frozenset()  # the parts the body labels (P:A or [P:A])
    hornpipe: bool = False  # R:hornpipe
    voice: str = ""  # the voice being read (V:1 or [V:1]); the check reads voices in turn

    @classmethod
    def from_header(cls, header_lines):
        """A reader set up from the header's ``M:`` and ``L:`` (defaults of ABC 2.1).

        Raises `BarError` for a meter or unit length too fine to count (``L:1/86``).
        """
        from tfdl.music.abc import default_unit_length

        problem = limits.header_problem(header_lines)
        if problem:
            raise BarError(str(problem))
        fields, rhythm = {}, ""
        for line in header_lines:
            match = FIELD_LINE.fullmatch(line.strip())
            if match:
                fields.setdefault(match[1], match[2].strip())
                if match[1] == "R":
                    rhythm = match[2].strip().lower()  # the last R: is the one abc2midi uses
        meter_text = fields.get("M", "4/4")  # no M: is 4/4 to abc2midi
        unit = fields.get("L") or default_unit_length([f"M:{meter_text}"])[2:]
        reader = cls(meter=_ticks(meter_length(meter_text)), meter_text=meter_text)
        reader.unit = _ticks(_unit_length(unit) or Fraction(1, 8))
        reader.header_parts = frozenset(re.findall(r"[A-Z]", fields.get("P", "")))
        reader.hornpipe = rhythm.startswith("hornpipe")
        return reader

    def _time(self, duration, pitch=None):
        """Add ``duration`` to the bar being read; consecutive notes of one bar share one
        time event, so playing a tune through walks a few events per bar, not per note."""
        last = self.events[-1] if self.events else None
        if last is not None and last.kind == "time" and last.bar == self.bar:
            if last.meter_text == self.meter_text and last.voice == self.voice:
                last.duration += duration
                return _Note(duration, pitch, last)
        event = Event(
            "time",
            self.bar,
            duration,
            meter=self.meter,
            meter_text=self.meter_text,
            voice=self.voice,
        )
        self.events.append(event)
        return _Note(duration, pitch, event)

    def copy(self):
        """A snapshot to go back to: later reading does not change it."""
        clone = copy.copy(self)
        clone.events = list(self.events)
        if clone.events and clone.events[-1].kind == "time":  # the one event still growing
            clone.events[-1] = copy.copy(clone.events[-1])
        return clone

    def _field(self, key, value):
        if key == "P":
            if not re.fullmatch(r"\s*[A-Z]\s*", value):
                raise BarError(f"bar {self.bar}: P:{value.strip()} must name one part, A to Z")
            self.parts = self.parts | {value.strip()}
        if key == "V":
            self.voice = (value.split() or [""])[0]  # "V:1 clef=treble" is voice 1
        if key == "M":
            self.meter = _ticks(meter_length(value))
            self.meter_text = value.strip()
        elif key == "L":
            unit = _unit_length(value)
            if unit is None:
                raise BarError(f"bar {self.bar}: bad L:{value.strip()}")
            self.unit = _ticks(unit)

    def feed(self, text):
        """Read more of the body; events are appended to ``self.events``."""
        problem = limits.body_problem(text, self.bar, self.bar_just_closed, self.at_line_start)
        if problem:  # before a number is read: Z999999999 would be a billion events
            raise BarError(str(problem))
        lines = text.split("\n")
        for n, line in enumerate(lines):
            if n:
                self.at_line_start = True
                self.bar_just_closed = False
            if not line:
                continue
            if self.at_line_start:
                match = FIELD_LINE.match(line)
                if match and match[1] in BODY_FIELDS:
                    if n == len(lines) - 1:  # the field line is not finished yet
                        raise BarError("a field line must be fed whole")
                    self._field(match[1], match[2])
                    continue
            self._read_music(line)
            self.at_line_start = False

    def _read_music(self, line):
        pos, end = 0, len(line)
        pending_broken = None  # multiplier for the next note after > or <
        tuplet = None  # [q, p, notes left]: the next notes last q/p of their length
        last = None  # the _Note of the last note, rest or chord (for broken rhythm, ties)
        decorated = False  # a decoration waits for its note
        grace_waiting = False  # grace notes wait for their note
        bar = self.bar

        def timed(duration, pitch=None):
            nonlocal pending_broken, last, decorated, grace_waiting
            grace_waiting = False
            if self.tie_pitch is not None and pitch is not None and pitch != self.tie_pitch:
                raise BarError(f"bar {bar}: a tie joins two different notes")
            self.tie_pitch = None
            if tuplet is not None:
                duration = _scaled(duration, tuplet[0], tuplet[1], bar)
                tuplet[2] -= 1
            if pending_broken is not None:
                (num, den), base = pending_broken
                if duration != base:
                    raise BarError(f"bar {bar}: broken rhythm between notes of unequal length")
                duration = _scaled(duration, num, den, bar)
                pending_broken = None
            last = self._time(duration, pitch)
            decorated = False
            self.after_bar = False
            self.notes += 1
            return last

        while pos < end:
            if tuplet is not None and tuplet[2] <= 0:
                tuplet = None
            c = line[pos]
            # an ending's digit must touch its bar line ("|1", ":|2"), also across feeds
            glued_to_bar, self.bar_just_closed = self.bar_just_closed, False
            if c in " \t`":
                pos += 1
                continue
            if c == "%":
                break
            if c == "\\" and not line[pos + 1 :].strip():
                break  # line continuation
            if decorated and c not in '^_=ABCDEFGabcdefgzx[{!+"' and c not in DECORATIONS:
                raise BarError(f"bar {bar}: a decoration must come right before a note")
            # an ending: "|1" or ":|2" (the digit right after the bar line; abc2midi
            # reads "| 2" as a stray digit), or "[1" (also after a space)
            if (self.after_bar and c in "0123456789" and glued_to_bar) or (
                self.after_bar and c == "[" and line[pos + 1 : pos + 2] in _DIGITS
            ):
                match = _ENDING.match(line, pos)
                numbers = _ending_numbers(match[1])
                self.events.append(Event("ending", bar, endings=numbers, voice=self.voice))
                pos = match.end()
                self.after_bar = False
                continue
            match = _BAR.match(line, pos)
            if match and not (c == "[" and line[pos : pos + 2] != "[|"):
                if pending_broken is not None:
                    raise BarError(f"bar {bar}: broken rhythm at a bar line")
                if decorated:
                    raise BarError(f"bar {bar}: a decoration must come right before a note")
                left, mid, right, double_colon = match.groups()
                if double_colon:
                    kind = "both"
                elif left and right:
                    kind = "both"
                elif left:
                    kind = "end"
                elif right:
                    kind = "start"
                else:
                    kind = "single" if mid == "|" else "double"
                self.events.append(Event("bar", bar, bar_kind=kind, voice=self.voice))
                self.bar += 1
                bar = self.bar
                self.after_bar = self.bar_just_closed = True
                last = None
                pos = match.end()
                continue
            if c == '"':
                close = line.find('"', pos + 1)
                if close < 0:
                    raise BarError(f'bar {bar}: an unclosed " (chord symbol or annotation)')
                text = line[pos + 1 : close]
                if not _QUOTED.fullmatch(text):
                    raise BarError(f'bar {bar}: "{text[:20]}" is no chord symbol or annotation')
                pos = close + 1
                continue
            if c in "!+":
                close = line.find(c, pos + 1)
                if close < 0 or close == pos + 1:
                    raise BarError(f"bar {bar}: an unclosed {c}decoration{c}")
                decorated = True
                pos = close + 1
                continue
            if c in DECORATIONS:
                decorated = True
                pos += 1
                continue
            if c == "(":
                if pos + 1 < end and line[pos + 1] in _DIGITS:
                    match = re.compile(r"\(([0-9]+)(?::([0-9]*))?(?::([0-9]*))?").match(line, pos)
                    p = int(match[1])
                    if not 2 <= p <= 9:
                        raise BarError(f"bar {bar}: a tuplet ({p} is not 2 to 9")
                    q = int(match[2]) if match[2] else _tuplet_q(p, self.meter_text)
                    r = int(match[3]) if match[3] else p
                    if tuplet is not None:
                        raise BarError(f"bar {bar}: a tuplet inside a tuplet")
                    tuplet = [q, p, r]  # the next r notes last q/p of their length
                    pos = match.end()
                else:
                    pos += 1  # a slur
                continue
            if c == ")":
                pos += 1
                continue
            if c == "-":
                if grace_waiting:
                    raise BarError(f"bar {bar}: a tie right after grace notes")
                if last is None or self.tie_pitch is not None or last.pitch is None:
                    raise BarError(f"bar {bar}: a tie with no note before it")
                self.tie_pitch = last.pitch
                pos += 1
                continue
            if c in "<>":
                run = len(line[pos:]) - len(line[pos:].lstrip(c))
                if last is None or run > 3:
                    raise BarError(f"bar {bar}: broken rhythm {c * run} with no note before it")
                long, short = (2 ** (run + 1) - 1, 2**run), (1, 2**run)  # > is 3/2 and 1/2
                first, second = (long, short) if c == ">" else (short, long)
                base = last.duration
                changed = _scaled(base, *first, bar)
                last.event.duration += changed - base
                last.duration = changed
                pending_broken = (second, base)
                pos += run
                continue
            if c == "{":
                close = line.find("}", pos + 1)
                if close < 0:
                    raise BarError(f"bar {bar}: an unclosed {{grace notes}}")
                inner = line[pos + 1 : close].replace("/", "", 1 if line[pos + 1] == "/" else 0)
                if not re.fullmatch(rf"(?:{NOTE_PATTERN}[\d/]*)+", inner):
                    raise BarError(f"bar {bar}: grace notes {{{inner[:20]}}} hold no notes")
                if grace_waiting:
                    raise BarError(f"bar {bar}: two {{grace notes}} groups with no note between")
                grace_waiting = True
                pos = close + 1
                continue
            if c == "[":
                match = INLINE_FIELD.match(line, pos)
                if match:
                    self._field(match[1], match[2])
                    pos = match.end()
                    continue
                pos = self._chord(line, pos, bar, timed)
                continue
            if c in "^_=ABCDEFGabcdefg":
                match = NOTE.match(line, pos)
                if not match:
                    raise BarError(f"bar {bar}: an accidental with no note")
                (num, den), pos = _length(line, match.end())
                timed(_scaled(self.unit, num, den, bar), _pitch(match))
                continue
            if c in "zx":
                (num, den), pos = _length(line, pos + 1)
                timed(_scaled(self.unit, num, den, bar))
                continue
            if c in "ZX":
                match = re.compile(r"[0-9]*").match(line, pos + 1)
                bars = int(match[0]) if match[0] else 1
                if self.meter is None:
                    raise BarError(f"bar {bar}: a multi-bar rest needs a meter")
                last = self._time(self.meter)
                for _ in range(bars - 1):  # a rest of several bars: each one full
                    self.events.append(Event("bar", bar, bar_kind="single", voice=self.voice))
                    last = self._time(self.meter)
                self.after_bar = False
                pos = match.end()
                continue
            if c == "y":
                pos += 1
                continue
            raise BarError(f"bar {bar}: {c!r} is not ABC music")
        if pending_broken is not None:
            raise BarError(f"bar {bar}: broken rhythm at the end of a line")
        if tuplet is not None and tuplet[2] > 0:
            raise BarError(f"bar {bar}: a tuplet runs past the end of a line")
        if decorated:
            raise BarError(f"bar {bar}: a decoration must come right before a note")

    def _chord(self, line, pos, bar, timed):
        """Read ``[ceg]2`` at ``pos``: one time event of the first note's length."""
        close = line.find("]", pos + 1)
        if close < 0:
            raise BarError(f"bar {bar}: an unclosed [chord]")
        inner = line[pos + 1 : close]
        notes = list(re.finditer(_CHORD_NOTE, inner))
        rest = re.sub(rf"{_CHORD_NOTE}|[.~HLMOPSTuv ]|!\w+!", "", inner)
        if not notes or rest:
            raise BarError(f"bar {bar}: [{inner[:20]}] is no chord")
        (num1, den1), _ = _length(notes[0][4], 0)
        (num2, den2), pos = _length(line, close + 1)
        pitches = {_pitch(n) for n in notes}
        if self.tie_pitch is not None and self.tie_pitch not in pitches:
            raise BarError(f"bar {bar}: a tie joins two different notes")
        self.tie_pitch = None
        duration = _scaled(self.unit, num1 * num2, den1 * den2, bar)
        note = timed(duration, next(iter(pitches)) if len(pitches) == 1 else None)
        if any(n[5] for n in notes):  # a tie inside the chord: ties all its notes
            self.tie_pitch = note.pitch
        return pos


def _pitch(match):
    letter, octave = match[2], match[3]
    # abc2midi rejects C' (write c) and c, (write C), "bad pitch specifier"
    if ("'" in octave and letter.isupper()) or ("," in octave and letter.islower()):
        raise BarError(f"{letter}{octave}: write the octave with the letter's case first")
    return letter, octave.count("'") - octave.count(",")


def _tuplet_q(p, meter_text):
    """ABC 2.1 default q of a tuplet: p 2->3, 3->2, 4->3, 6->2, 8->3; 5, 7, 9 by the meter."""
    if p in (2, 4, 8):
        return 3
    if p in (3, 6):
        return 2
    length = meter_length(meter_text)
    compound = length is not None and length.numerator % 3 == 0 and length.numerator > 3
    return 3 if compound else 2


def _ending_numbers(text):
    numbers = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        numbers.update(range(int(low), int(high or low) + 1))
    return tuple(sorted(numbers))


def _bar_text(duration, meter):
    """``("5/8", "6/8")``: two lengths in ticks, written in the meter's denominator."""
    duration, meter = Fraction(duration, TICKS), Fraction(meter, TICKS)
    den = meter.denominator
    for d in (8, 4, 2, 16):  # write lengths as the meter is written, e.g. 6/8, not 3/4
        if d % meter.denominator == 0 and (meter * d).denominator == 1:
            den = d
            break

    def show(x):
        n = x * den
        return (
            f"{n.numerator}/{den}" if n.denominator == 1 else f"{n.numerator}/{n.denominator * den}"
        )

    return show(duration), show(meter)


@dataclass
class BarCheck:
    """What `check_bars` found: ``reason`` is None exactly when ``metrical``.

    ``bars`` counts the written bars that hold music; ``bad_bars`` the distinct written
    bars of the wrong length, ``bad_bar_numbers`` which (a syntax problem makes them 0
    and empty: the bars were not timed).
    """

    metrical: bool
    reason: str | None
    bars: int
    bad_bars: int = 0
    bad_bar_numbers: tuple = ()


def playback_problems(events, pickup_parts=True, at_end=True):
    """Walk ``events`` in playback order (`tfdl.music.playorder`); ``(bad bars, error)``.

    A bad bar is ``(written bar, duration, meter length, meter text)``.

    Follows abc2midi: a bar closed by ``|`` must be full unless it is the first; one
    closed by ``||``, ``|:``, ``:|`` or ``::`` is checked only when full or too long (a
    short one carries on into the music played next). With ``pickup_parts`` a short bar
    that opens a part (right after a double bar or repeat sign) is a pickup, not an
    error the first time through (played again after a full bar, abc2midi is right
    that it makes the bar too long). ``at_end`` also reports a ``|:`` or an ending
    that never closes.
    """
    bad = []
    acc = 0  # ticks in the bar being filled
    barno = 0  # bars with music played so far (abc2midi's barno)
    saved_barno = 0  # barno where the repeat being played started
    opens_part = True  # the bar being filled began at the start or after a part boundary
    meter = None
    passno = 1
    bar_of_acc, meter_text = 1, ""

    def checkbar():
        nonlocal acc, barno
        if meter is not None and acc != meter and acc != 0 and (passno == 2 or barno != 0):
            if not (pickup_parts and opens_part and acc < meter and passno == 1):
                bad.append((bar_of_acc, acc, meter, meter_text))
        if acc > 0:
            barno += 1
        acc = 0

    def softcheck():
        if meter is None or acc >= meter or barno <= 0:
            checkbar()
            return True
        return False

    try:
        for i, kind, step_pass, action in play_steps(events):
            passno = step_pass  # read by checkbar
            if kind == "time":
                e = events[i]
                if acc == 0:
                    bar_of_acc = e.bar
                meter, meter_text = e.meter, e.meter_text
                acc += e.duration
                continue
            if kind == "single":
                checkbar()
                opens_part = False
            elif kind != "ending":
                opens_part = softcheck()
            # abc2midi counts bars again from where the repeat started; a skipped
            # ending counts as one bar
            if action == SAVE:
                saved_barno = barno
            elif action == BACK:
                barno = saved_barno
            elif action == SKIP:
                barno += 1
    except OpenRepeat as e:
        if at_end:
            return bad, str(e)
    except RepeatError as e:
        return bad, str(e)
    return bad, None


def check_bars(song, pickup_parts=True):
    """Check every bar of ``song`` (ABC text with a header) against its meter.

    Returns a `BarCheck`; the reason names the first bad bar, e.g.
    ``"bar 7 lasts 5/8, M:6/8 needs 6/8"``, or the syntax that stopped the reading.
    A tune with no meter (``M:none``) has no bar lengths to check.
    """
    problem = limits.size_problem(song)
    if problem:
        return BarCheck(False, str(problem), 0)
    lines = song.strip("\n").split("\n")
    key_line = key_index(lines)
    if key_line is None:
        return BarCheck(False, "no K: line, so no body", 0)
    try:
        reader = BarReader.from_header(lines[:key_line])
    except BarError as e:
        return BarCheck(False, f"header: {e}", 0)
    try:
        reader.feed("\n".join(lines[key_line + 1 :]) + "\n")
        if reader.tie_pitch is not None:
            raise BarError(f"bar {reader.bar}: a tie at the end of the tune")
    except BarError as e:
        return BarCheck(False, str(e), _bars_with_music(reader.events))
    return verdict(reader, pickup_parts)


def _bars_with_music(events):
    return len({e.bar for e in events if e.kind == "time"})


def verdict(reader, pickup_parts=True, at_end=True):
    """The `BarCheck` of what ``reader`` has read so far (``at_end``: the whole tune)."""
    bad, error = playback_problems(reader.events, pickup_parts, at_end)
    bars = _bars_with_music(reader.events)
    if reader.hornpipe and reader.meter_text.replace(" ", "") not in ("2/4", "4/4", "C"):
        error = error or "R:hornpipe needs M:2/4 or 4/4 (abc2midi plays it swung)"
    unlabelled = sorted(reader.header_parts - reader.parts) if at_end else []
    if unlabelled:
        error = error or f"P: in the header plays part {unlabelled[0]}, which no P: line labels"
    if error:
        return BarCheck(False, error, bars)
    if bad:
        numbers = tuple(sorted({b[0] for b in bad}))
        bar, duration, meter, meter_text = bad[0]
        lasts, needs = _bar_text(duration, meter)
        reason = f"bar {bar} lasts {lasts}, M:{meter_text} needs {needs}"
        return BarCheck(False, reason, bars, len(numbers), numbers)
    return BarCheck(True, None, bars)
