"""Song form: a tune's parts, the bars in each, its last note, and how alike its parts are.

A dance tune is parts of 8 bars, each usually played twice (AABB), ending on the home
note of its key. `read_form` reads that from ABC text with the bar reader of
`tfdl.music.meter` (no other tokeniser), by these rules:

- a tune splits into sections at ``:|``, ``::``, ``||``, ``|]``, a ``|:`` that follows
  music of the same section, and the end of the tune; a ``:|`` with no ``|:`` before
  it repeats from the start of its section (the implicit ``|:`` at the start of a tune
  or after the last boundary);
- a first ending belongs to its section and its bars count; a second (or later)
  ending stays in the same section, its bars are not counted, and the ``:|`` that
  closes the first ending does not end the section;
- bars are counted by their length, so partial bars are summed: a pickup and the
  short bar that completes it count as one bar (``bars`` is the section's music over
  the meter's bar length, rounded), and a pickup cut off by a ``|:`` or ``||``
  (less than half a bar) goes with the section after it. Under ``M:none`` written
  bars are counted;
- the last sounding note is the last note written (rests and grace notes are not
  notes; a chord sounds as its first note), compared by letter with the tonic of the
  first ``K:`` (``K:Ador`` -> A, ``K:Em`` -> E, ``K:F#m`` -> F; the key signature
  decides the accidental);
- two sections are as alike as 1 - edit distance / the longer length of their note
  sequences (TunesFormer's similarity: 1 is a copy, 0 nothing in common).

This module imports no TensorFlow: the report, the studio and the sampler's grammar
read form through it.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from tfdl.music.meter import _CHORD_NOTE, TICKS, BarError, BarReader, _pitch
from tfdl.music.notation import (
    FIELD_LINE,
    LETTERS,
    NATURAL,
    NOT_NOTES,
    NOTE,
    key_index,
    parse_key,
    tonic_letter,
)

# Bars per section a phrase-regular tune has, and a part of a two-part tune.
PHRASE_BARS = frozenset({4, 8, 12, 16})
PART_BARS = frozenset({8, 16})
# Bars 5-6 of a part restate bars 1-2 when their notes are at least this alike (half the
# notes the same, in order): a restatement with a changed note or two counts.
RESTATED = 0.5


class FormReader(BarReader):
    """A `BarReader` that also keeps each sounding note and the event that holds it.

    ``sounds`` is a list of ``(event index, (letter, octave))`` in written order.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sounds = []
        self._chord_pitch = None

    def _time(self, duration, pitch=None):
        note = super()._time(duration, pitch)
        pitch = pitch if pitch is not None else self._chord_pitch
        if pitch is not None:
            self.sounds.append((len(self.events) - 1, pitch))
        return note

    def _chord(self, line, pos, bar, timed):
        # A chord of several pitches reaches _time with no pitch: it sounds as its first.
        close = line.find("]", pos + 1)
        first = re.search(_CHORD_NOTE, line[pos + 1 : close]) if close > pos else None
        self._chord_pitch = _pitch(first) if first else None
        try:
            return super()._chord(line, pos, bar, timed)
        finally:
            self._chord_pitch = None

    def copy(self):
        clone = super().copy()
        clone.sounds = list(self.sounds)
        return clone


@dataclass
class Section:
    """One section (part) of a tune as written.

    ``length`` is its counted music in bars (a Fraction: a pickup is part of a bar);
    ``bars`` that rounded. ``repeated``: closed by ``:|`` or ``::``, or holding endings.
    ``notes`` are the pitches of its counted music (second endings left out).
    ``ending_length`` is the music of its first ending, ``later_length`` of the
    ending being read after it (both in bars).
    """

    length: Fraction = Fraction(0)
    written_bars: int = 0  # bars with music, for M:none
    free_meter: bool = False
    repeated: bool = False
    endings: int = 0  # ending marks read (|1 and :|2 make 2)
    counting: bool = True  # False inside a second or later ending
    ending_length: Fraction = Fraction(0)
    later_length: Fraction = Fraction(0)
    closed_by: str = ""  # the bar kind that closed it: end, both, double, start, "" (open)
    # The counted notes by written bar: {bar number: [pitch, ...]}, in order.
    bar_notes: dict = field(default_factory=dict)

    @property
    def notes(self):
        """The pitches of its counted music, in order (second endings left out)."""
        return [pitch for pitches in self.bar_notes.values() for pitch in pitches]

    @property
    def bars(self):
        if self.free_meter:
            return self.written_bars
        return int(self.length + Fraction(1, 2))

    @property
    def has_music(self):
        return self.length > 0 or self.written_bars > 0 or any(self.bar_notes.values())

    @property
    def restates(self):
        """An 8-bar part whose bars 5-6 restate bars 1-2, as written or with changes
        (their notes at least `RESTATED` alike); None for a part of other length.
        A pickup, a written bar shorter than the rest before the first full one, is
        not bar 1."""
        if self.bars != 8:
            return None
        bars = list(self.bar_notes.values())
        if len(bars) == 9:  # a pickup bar before the eight
            bars = bars[1:]
        if len(bars) < 6:
            return None
        return similarity(bars[4] + bars[5], bars[0] + bars[1]) >= RESTATED


@dataclass
class Form:
    """What `read_form` found in a tune."""

    sections: list  # of Section, each with music
    last_note: str | None  # the letter of the last sounding note, upper case
    tonic: str | None  # the letter of K:'s tonic; None for K:none, HP or no K:
    open_section: Section | None = None  # the section still being read (no closing bar line)

    @property
    def shape(self):
        """Bars per section, e.g. ``(8, 8)``."""
        return tuple(s.bars for s in self.sections)

    @property
    def phrase_regular(self):
        """Every section has 4, 8, 12 or 16 bars."""
        return bool(self.sections) and all(s.bars in PHRASE_BARS for s in self.sections)

    @property
    def two_part(self):
        """At least two sections, each of 8 or 16 bars."""
        return len(self.sections) >= 2 and all(s.bars in PART_BARS for s in self.sections)

    @property
    def ends_on_tonic(self):
        return self.tonic is not None and self.last_note == self.tonic

    @property
    def part_similarity(self):
        """How alike the first two sections are (see `similarity`); None with one."""
        if len(self.sections) < 2:
            return None
        return similarity(self.sections[0].notes, self.sections[1].notes)

    def name(self):
        """The form in letters, a repeated part twice: ``AABB``, ``ABC``."""
        letters = []
        for n, section in enumerate(self.sections):
            letter = chr(ord("A") + n) if n < 26 else "?"
            letters.append(letter * (2 if section.repeated else 1))
        return "".join(letters)

    def describe(self):
        """``AABB, 8 + 8 bars, ends on D`` (the studio's badge)."""
        bars = " + ".join(str(b) for b in self.shape) or "0"
        end = f"ends on {self.last_note}" if self.last_note else "no notes"
        return f"{self.name() or 'no parts'}, {bars} bars, {end}"


def sections_of(reader, at_end=True):
    """``(closed sections, the open one)`` of what ``reader`` (a `FormReader`) has read.

    With ``at_end`` the open section, if it holds music, is closed by the tune's end
    and returned among the sections (the open one is then None).
    """
    sounds = iter(reader.sounds)
    sound = next(sounds, None)
    sections = []
    current = Section()
    for i, e in enumerate(reader.events):
        if e.kind == "time":
            if e.meter is None:
                current.free_meter = True
            while sound is not None and sound[0] == i:
                if current.counting:
                    current.bar_notes.setdefault(e.bar, []).append(sound[1])
                sound = next(sounds, None)
            if e.duration == 0:
                continue
            part = Fraction(e.duration, e.meter) if e.meter else Fraction(e.duration, TICKS)
            if current.counting:
                current.length += part
                current.written_bars += 1 if _new_bar(reader.events, i) else 0
                if current.endings:
                    current.ending_length += part
            else:
                current.later_length += part
            continue
        if e.kind == "ending":
            current.endings += 1
            current.repeated = True
            current.counting = 1 in e.endings and current.counting
            current.later_length = Fraction(0)
            continue
        kind = e.bar_kind
        if kind == "single":
            continue
        in_first_ending = current.endings == 1 and current.counting
        if kind in ("end", "both") and in_first_ending:
            current.repeated = True
            continue  # the first ending's :| : its second ending follows, same section
        if kind == "start" and not current.has_music:
            continue
        if kind in ("end", "both"):
            current.repeated = True
        current.closed_by = kind
        if current.has_music and current.bars == 0 and not current.free_meter:
            # a pickup before |: (or ||): summed with the bar that completes it
            current = Section(length=current.length, bar_notes=current.bar_notes)
            continue
        if current.has_music:
            sections.append(current)
        current = Section()
    if at_end:
        if current.has_music:
            sections.append(current)
        return sections, None
    return sections, current


def _new_bar(events, i):
    """True if time event ``i`` starts a written bar (none before it in its bar)."""
    return i == 0 or events[i - 1].kind != "time" or events[i - 1].bar != events[i].bar


def reader_for(text):
    """A `FormReader` that has read the whole of ``text`` (a tune with its header), or
    None if it has no ``K:`` or a header the bar reader cannot read."""
    lines = text.strip("\n").split("\n")
    key_line = key_index(lines)
    if key_line is None:
        return None
    try:
        reader = FormReader.from_header(lines[:key_line])
    except BarError:
        return None
    try:
        reader.feed("\n".join(lines[key_line + 1 :]) + "\n")
    except BarError:
        pass  # the form of what could be read
    return reader


def read_form(text):
    """The `Form` of an ABC tune (header and body); a tune with no ``K:`` has no sections."""
    reader = reader_for(text)
    tonic = tonic_letter(text)
    if reader is None:
        return Form([], None, tonic)
    return form_of(reader, tonic)


def form_of(reader, tonic, at_end=True):
    """The `Form` of what ``reader`` has read (``at_end=False``: the tune goes on)."""
    sections, open_section = sections_of(reader, at_end)
    last = reader.sounds[-1][1][0].upper() if reader.sounds else None
    return Form(sections, last, tonic, open_section)


def first_part(text):
    """The body of ``text`` (after ``K:``) up to the bar line that closes its first
    section, or None if no section closes before the end (the studio keeps it when it
    redraws the rest). Tried at each bar line: the first cut whose reading has closed
    a section."""
    lines = text.split("\n")
    key_line = key_index(lines)
    if key_line is None:
        return None
    head, body = "\n".join(lines[: key_line + 1]) + "\n", "\n".join(lines[key_line + 1 :])
    tonic = tonic_letter(head)
    for match in re.finditer(r"[|:\]]+", body):
        reader = reader_for(head + body[: match.end()])
        if reader is not None and form_of(reader, tonic, at_end=False).sections:
            return body[: match.end()]
    return None


def edit_distance(a, b):
    """Levenshtein distance between two sequences (of notes), one numpy row at a time."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes = {x: n for n, x in enumerate(set(a) | set(b))}
    b_codes = np.array([codes[x] for x in b])
    steps = np.arange(len(b) + 1)
    row = steps.copy()
    for n, x in enumerate(a, 1):
        # substitution or match from the row above, deletion from above ...
        new = np.empty_like(row)
        new[0] = n
        new[1:] = np.minimum(row[:-1] + (b_codes != codes[x]), row[1:] + 1)
        # ... then insertions along the row: new[j] = min over k <= j of new[k] + (j - k)
        new = np.minimum.accumulate(new - steps) + steps
        row = new
    return int(row[-1])


def similarity(a, b):
    """1 - edit distance / the longer length: 1 for equal note sequences, 0 for nothing
    alike (two empty sequences are equal)."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1 - edit_distance(a, b) / longest


def bar_pitches(reader):
    """The pitches of each written bar that has notes, in order (a tuple a bar): every
    bar as written, endings included, split at every bar line."""
    bars = {}
    for index, pitch in reader.sounds:
        bars.setdefault(reader.events[index].bar, []).append(pitch)
    return [tuple(pitches) for _, pitches in sorted(bars.items())]


def repeated_bars(text):
    """``(repeated, bars)``: how many of a tune's bars with notes have the same sequence
    of pitches (durations aside) as another bar of the tune, and how many there are."""
    reader = reader_for(text)
    if reader is None:
        return 0, 0
    bars = bar_pitches(reader)
    counts = Counter(bars)
    return sum(counts[bar] > 1 for bar in bars), len(bars)


# Accidentals as written, in semitones.
_ACCIDENTALS = {"^^": 2, "^": 1, "": 0, "=": 0, "_": -1, "__": -2}
# Text of a tune's body that holds no notes, and comments.
_NOT_NOTES = re.compile(NOT_NOTES.pattern + "|%.*")


def melody(text):
    """``(in key, notes, lowest, highest)`` of a tune's written notes: how many sound a
    pitch of the scale of its ``K:`` (any mode; None without a key), and the lowest and
    highest pitch in semitones (None without notes). An accidental holds for its letter
    and octave to the end of the bar, as ABC says; ``=`` restores the natural."""
    lines = text.split("\n")
    key_line = key_index(lines)
    key = None if key_line is None else parse_key(lines[key_line][2:])
    body = "\n".join(line for line in lines[(key_line or 0) + 1 :] if not FIELD_LINE.match(line))
    in_key, notes, pitches = 0, 0, []
    scale = None
    if key is not None:
        scale = {(NATURAL[x] + key.alteration(x)) % 12 for x in LETTERS}
    for bar in re.split(r"\|", _NOT_NOTES.sub(" ", body)):
        held = {}  # (letter, octave) -> semitones an accidental set in this bar
        for match in NOTE.finditer(bar):
            accidental, letter, marks = match[1] or "", match[2], match[3]
            octave = marks.count("'") - marks.count(",") + (1 if letter.islower() else 0)
            name = (letter.upper(), octave)
            if accidental:
                held[name] = _ACCIDENTALS[accidental]
            natural = NATURAL[name[0]] + 12 * octave
            if name in held:
                pitch = natural + held[name]
            else:
                pitch = natural + (key.alteration(name[0]) if key else 0)
            pitches.append(pitch)
            notes += 1
            in_key += scale is not None and pitch % 12 in scale
    if not pitches:
        return in_key, notes, None, None
    return (in_key if scale is not None else None), notes, min(pitches), max(pitches)


def melody_numbers(songs):
    """``in_key_fraction`` (of the notes of songs with a key, those in its scale: see
    `melody`) and ``pitch_range`` (the mean of each song's highest minus lowest pitch,
    in semitones) of many tunes."""
    read = [melody(song) for song in songs]
    keyed = [(k, n) for k, n, _, _ in read if k is not None]
    ranges = [high - low for _, _, low, high in read if low is not None]
    return {
        "in_key_fraction": round(sum(k for k, _ in keyed) / max(sum(n for _, n in keyed), 1), 4),
        "pitch_range": round(sum(ranges) / len(ranges), 2) if ranges else None,
    }


def form_numbers(songs, shapes=5):
    """Form of many tunes: ``phrase_regular_fraction``, ``two_part_fraction``,
    ``tonic_ending_fraction``, ``section_shapes`` (the ``shapes`` commonest, as
    ``{"[8, 8]": count}``), ``part_similarity`` (the mean `Form.part_similarity`
    of the tunes with two sections or more; None if none has),
    ``repeated_bar_fraction`` (of all their bars with notes, those another bar of the
    same tune repeats: `repeated_bars`) and ``restated_part_fraction`` (of their 8-bar
    parts, those whose bars 5-6 restate bars 1-2: `Section.restates`)."""
    forms = [read_form(song) for song in songs]
    n = max(len(forms), 1)
    counts = Counter(str(list(f.shape)) for f in forms)
    alike = [f.part_similarity for f in forms if f.part_similarity is not None]
    repeats = [repeated_bars(song) for song in songs]
    restated = [s.restates for f in forms for s in f.sections if s.restates is not None]
    return {
        "phrase_regular_fraction": round(sum(f.phrase_regular for f in forms) / n, 4),
        "two_part_fraction": round(sum(f.two_part for f in forms) / n, 4),
        "tonic_ending_fraction": round(sum(f.ends_on_tonic for f in forms) / n, 4),
        "section_shapes": dict(counts.most_common(shapes)),
        "part_similarity": round(sum(alike) / len(alike), 4) if alike else None,
        "repeated_bar_fraction": round(
            sum(r for r, _ in repeats) / max(sum(b for _, b in repeats), 1), 4
        ),
        "restated_part_fraction": (round(sum(restated) / len(restated), 4) if restated else None),
    }
