"""A parsed music21 score as notes in playing order, written to and read from MIDI files.

music21's own ``score.write("midi")`` expands repeats with `music21.repeat.Expander`
and assigns MIDI channels with a quadratic search: on the shipped corpus that takes
0.3 s for a typical tune and 70 s for one long reel (whose repeats it also expands
wrongly, 320 notes into 11 352). A folk tune is a melody, so this module does the
simple thing once: walk the bars in playing order (``|: :|`` repeats played twice,
first and second endings honoured), merge tied notes, and write one track with
music21's low-level `music21.midi` classes. Everything is linear in the tune's length.

Times are in quarter notes (music21's ``quarterLength``) until the file is written.
"""

from dataclasses import dataclass
from pathlib import Path

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


def play_order(repeat_starts, repeat_ends, endings):
    """Bar indices in playing order, given per bar: ``|:`` at its start, ``:|`` at its end,
    and the endings (set of pass numbers, empty if none) it belongs to.

    A section runs from the last ``|:`` (or the tune's start, or the bar after the last
    ``:|``) to a ``:|``; it is played twice, skipping on each pass the bars of endings
    that do not carry that pass's number. Each ``:|`` sends the player back at most once,
    and the result is never more than twice as long as the tune, whatever the repeat
    signs (unbalanced ones are common in generated songs). Third endings are not played.
    """
    n = len(repeat_ends)
    order, start, second_pass, i = [], 0, False, 0
    while i < n and len(order) < 2 * n:
        if repeat_starts[i] and i != start:
            start, second_pass = i, False  # a new section begins
        if endings[i] and (2 if second_pass else 1) not in endings[i]:
            i += 1  # an ending for the other pass
            if second_pass and i < n and not endings[i]:
                start, second_pass = i, False  # a first ending with no second: done
            continue
        order.append(i)
        if repeat_ends[i] and not second_pass:
            second_pass, i = True, start  # back to the start of the section
            continue
        last_of_ending = endings[i] and (i + 1 == n or not endings[i + 1])
        if repeat_ends[i] or (second_pass and last_of_ending):
            start, second_pass = i + 1, False  # the section is done
        i += 1
    return order


def _bars(part):
    """``(bar, start, end, endings)`` lists of a part's measures, for `play_order`."""
    from music21 import bar, spanner, stream

    measures = list(part.getElementsByClass(stream.Measure))
    index = {id(m): i for i, m in enumerate(measures)}
    endings = [set() for _ in measures]
    for bracket in part.spannerBundle.getByClass(spanner.RepeatBracket):
        for m in bracket.getSpannedElements():
            if id(m) in index:
                endings[index[id(m)]].update(bracket.numberRange or [])
    starts = [isinstance(m.leftBarline, bar.Repeat) for m in measures]
    ends = [
        isinstance(m.rightBarline, bar.Repeat) and m.rightBarline.direction == "end"
        for m in measures
    ]
    return measures, starts, ends, endings


def _timeline(part):
    """``(start, note_or_chord)`` of a part in playing order; start in quarter notes."""
    measures, starts, ends, endings = _bars(part)
    if not measures:  # no bar lines at all: the notes as they stand
        return [(float(n.offset), n) for n in part.flatten().notes]
    timeline, now = [], 0.0
    for i in play_order(starts, ends, endings):
        m = measures[i]
        timeline.extend((now + float(n.offset), n) for n in m.flatten().notes)
        now += float(m.duration.quarterLength)
    return timeline


def score_notes(score):
    """The notes of a parsed music21 score as heard: list of `NoteEvent` sorted by start.

    Repeats are expanded, tied notes merged into one, chords give one event per pitch;
    grace notes and chord symbols ("Am" above the staff) have no duration and are left out.
    Several parts (ABC voices ``V:``) sound together.
    """
    from music21 import harmony

    events = []
    for part in list(getattr(score, "parts", [])) or [score]:
        tied = {}  # pitch -> index in events of a note tied to the next one
        for start, n in sorted(_timeline(part), key=lambda item: item[0]):
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
