"""A parsed music21 score as notes in playing order, written to and read from MIDI files.

music21's own ``score.write("midi")`` expands repeats with `music21.repeat.Expander`
and assigns MIDI channels with a quadratic search: on the shipped corpus that takes
0.3 s for a typical tune and 70 s for one long reel (whose repeats it also expands
wrongly, 320 notes into 11 352). A folk tune is a melody, so this module does the
simple thing once: walk the bars in playing order, merge tied notes, and write one
track with music21's low-level `music21.midi` classes. Everything is linear in the
tune's length. The playing order is the bar check's (`tfdl.music.playorder`, read from
the ABC text by `tfdl.music.meter.BarReader`): the bars abc2midi is checked against
are the bars heard, third endings included.

Times are in quarter notes (music21's ``quarterLength``) until the file is written.
"""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tfdl.music.meter import TICKS, BarError, BarReader
from tfdl.music.notation import key_index
from tfdl.music.playorder import RepeatError, play_order

TICKS_PER_QUARTER = 480
DEFAULT_QPM = 120  # quarter notes per minute when a tune has no Q: field (as music21)
MAX_MIDI_TEMPO = 0xFFFFFF  # the longest quarter note a MIDI tempo event holds, in µs
PROGRAM = 0  # General MIDI "Acoustic Grand Piano": every synthesiser has it
VELOCITY = 90


@dataclass(frozen=True)
class NoteEvent:
    """One sounding note: ``start`` and ``end`` in quarter notes, MIDI ``pitch`` 0-127."""

    start: float
    end: float
    pitch: int


def _voice_orders(abc_text, parts):
    """Per part of the score: ``(bar_lengths, order)`` of its voice in the tune.

    ``bar_lengths`` is ``{written bar: ticks}`` of the voice's bars with music, in
    written order; ``order`` those bars as played (`tfdl.music.playorder.play_order`,
    the rules the bar check walks). Voices (``V:``) go with parts in the order they
    first appear; a score of one part is all the voices in turn, as the bar check reads
    them (music21 reads voices on interleaved lines so). None for each part when the bar
    reader or the play order rejects the tune (syntax or repeats abc2midi rejects too:
    the bar check fails it), or the voices are not the parts.
    """
    lines = abc_text.strip("\n").split("\n")
    key_line = key_index(lines)
    if key_line is None:
        return [None] * parts
    try:
        reader = BarReader.from_header(lines[:key_line])
        reader.feed("\n".join(lines[key_line + 1 :]) + "\n")
    except BarError:
        return [None] * parts
    voices = {}
    for e in reader.events:
        voices.setdefault(e.voice, []).append(e)
    if parts == 1:
        voices = {"": reader.events}
    elif len(voices) != parts:
        return [None] * parts
    orders = []
    for events in voices.values():
        lengths = {}
        for e in events:
            if e.kind == "time" and e.duration:
                lengths[e.bar] = lengths.get(e.bar, 0) + e.duration
        try:
            orders.append((lengths, play_order(events)))
        except RepeatError:
            return [None] * parts
    return orders


def _measures_of_bars(measures, bar_lengths):
    """``{written bar: [measure index, ...]}``: which of a part's music21 measures hold
    each bar the reader read.

    Bars and measures that take no time are left out on both sides (music21 makes a
    measure of a ``|]`` after ``|``, the reader a bar with no music). Where music21
    timed some notes differently (about 1 % of the corpus, e.g. a grace note inside a
    tuplet) it can split a bar into two measures: each bar then takes measures until
    they last as long as the bar.
    """
    sounding = [k for k, m in enumerate(measures) if m.duration.quarterLength > 0]
    bars = list(bar_lengths)
    if len(sounding) == len(bars):
        return {bar: [k] for bar, k in zip(bars, sounding)}
    held, ks = {}, iter(sounding)
    for bar in bars:
        need, got = Fraction(bar_lengths[bar] * 4, TICKS), Fraction(0)  # in quarter notes
        held[bar] = []
        while got < need:
            k = next(ks, None)
            if k is None:
                return held
            held[bar].append(k)
            got += Fraction(measures[k].duration.quarterLength)
    if bars:
        held[bars[-1]].extend(ks)  # measures music21 has beyond the reader's bars
    return held


def played_measures(part, voice_order):
    """The indices of a part's music21 measures in playing order.

    ``voice_order`` is the part's ``(bar_lengths, order)`` from `_voice_orders`, or None
    to play the measures as written, once.
    """
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    if voice_order is None:
        return list(range(len(measures)))
    held = _measures_of_bars(measures, voice_order[0])
    return [k for bar in voice_order[1] for k in held.get(bar, [])]


def _timeline(part, voice_order):
    """``(start, note_or_chord)`` of a part in playing order; start in quarter notes."""
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:  # no bar lines at all: the notes as they stand
        return [(float(n.offset), n) for n in part.flatten().notes]
    timeline, now = [], 0.0
    for k in played_measures(part, voice_order):
        m = measures[k]
        timeline.extend((now + float(n.offset), n) for n in m.flatten().notes)
        now += float(m.duration.quarterLength)
    return timeline


def score_notes(score, abc_text):
    """The notes of a parsed music21 score as heard: list of `NoteEvent` sorted by start.

    ``abc_text`` is the tune ``score`` was parsed from: its bars are played in the order
    of `tfdl.music.playorder` (the order the bar check walks), third endings included.
    A tune whose syntax or repeats the bar reader rejects is played as written, once.
    Tied notes are merged into one, chords give one event per pitch; grace notes and
    chord symbols ("Am" above the staff) have no duration and are left out. Several
    parts (ABC voices ``V:``) sound together.
    """
    from music21 import harmony

    parts = list(getattr(score, "parts", [])) or [score]
    events = []
    for part, voice_order in zip(parts, _voice_orders(abc_text, len(parts))):
        tied = {}  # pitch -> index in events of a note tied to the next one
        for start, n in sorted(_timeline(part, voice_order), key=lambda item: item[0]):
            length = float(n.duration.quarterLength)
            if length <= 0 or isinstance(n, harmony.ChordSymbol):
                continue
            for note in n.notes if n.isChord else [n]:
                pitch = min(max(round(note.pitch.ps), 0), 127)
                tie = (note.tie or n.tie).type if (note.tie or n.tie) else None
                held = tied.pop(pitch, None)
                if held is not None and tie in ("stop", "continue"):
                    if abs(events[held].end - start) < 1e-6:  # continues without a gap
                        events[held] = NoteEvent(events[held].start, start + length, pitch)
                        if tie == "continue":
                            tied[pitch] = held
                        continue
                events.append(NoteEvent(start, start + length, pitch))
                if tie in ("start", "continue"):
                    tied[pitch] = len(events) - 1
    return sorted(events, key=lambda e: (e.start, e.pitch))


def score_tempo(score):
    """Quarter notes per minute of the score's first metronome mark (ABC ``Q:``)."""
    from music21 import tempo

    for mark in score.flatten().getElementsByClass(tempo.MetronomeMark):
        qpm = mark.getQuarterBPM()
        if qpm and qpm > 0:
            return float(qpm)
    return float(DEFAULT_QPM)


def write_midi(events, path, qpm=DEFAULT_QPM):
    """Write `NoteEvent`s as a one-track MIDI file; returns ``path``."""
    from music21 import midi

    track = midi.MidiTrack(index=1)
    tempo = midi.MidiEvent(track, type=midi.MetaEvents.SET_TEMPO)
    # microseconds per quarter note, in 3 bytes: below ~3.6 quarters a minute it would
    # wrap around to a fast tempo, so the slowest a MIDI file can say is the limit
    tempo.data = midi.putNumber(min(max(round(60_000_000 / qpm), 1), MAX_MIDI_TEMPO), 3)
    program = midi.MidiEvent(track, type=midi.ChannelVoiceMessages.PROGRAM_CHANGE, channel=1)
    program.data = PROGRAM
    messages = [(0, 0, tempo), (0, 0, program)]
    for e in events:
        for tick, on in ((e.start, True), (e.end, False)):
            message = midi.MidiEvent(
                track,
                type=midi.ChannelVoiceMessages.NOTE_ON
                if on
                else midi.ChannelVoiceMessages.NOTE_OFF,
                channel=1,
            )
            message.pitch, message.velocity = e.pitch, VELOCITY if on else 0
            # at one tick, note-offs go first: a repeated pitch must stop before it restarts
            messages.append((round(tick * TICKS_PER_QUARTER), 1 if on else 0, message))
    end = midi.MidiEvent(track, type=midi.MetaEvents.END_OF_TRACK)
    end.data = b""
    last = max((m[0] for m in messages), default=0)
    messages.append((last + TICKS_PER_QUARTER, 2, end))  # a beat of silence to ring out

    now = 0
    for tick, _, message in sorted(messages, key=lambda m: (m[0], m[1])):
        track.events.append(midi.DeltaTime(track, time=tick - now))
        track.events.append(message)
        now = tick
    track.updateEvents()
    midi_file = midi.MidiFile()
    midi_file.ticksPerQuarterNote = TICKS_PER_QUARTER
    midi_file.tracks.append(track)
    path = Path(path)
    midi_file.open(str(path), "wb")
    try:
        midi_file.write()
    finally:
        midi_file.close()
    return path


def read_midi_notes(path):
    """Read a MIDI file back with music21: ``(start_tick, pitch)`` of every sounding note-on."""
    from music21 import midi

    midi_file = midi.MidiFile()
    midi_file.open(str(path))
    try:
        midi_file.read()
    finally:
        midi_file.close()
    notes = []
    for track in midi_file.tracks:
        tick = 0
        for event in track.events:
            if isinstance(event, midi.DeltaTime):
                tick += event.time
            elif event.type == midi.ChannelVoiceMessages.NOTE_ON and event.velocity > 0:
                notes.append((tick, event.pitch))
    return notes
