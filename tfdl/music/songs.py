"""Generated ABC text as songs: split, repair, check, and spot copies of training tunes.

A character model writes text, not music, and music21 parses much nonsense without
complaint (``K:Zz``, a tune with no bar lines). `check_song` therefore calls a song
valid only when it passes the layers below, and otherwise names the first one it fails in
``reason``, written ``"<kind>: <detail>"`` with a kind from `REASON_KINDS`:

0. ``too long``: the tune is at most `tfdl.music.limits.MAX_TUNE_CHARS` characters,
   and every number in it is within the limits of `tfdl.music.limits` (a header field
   beyond them is a ``bad field``, a number in the body a ``bad bar`` naming the bar),
   checked before anything else reads it;
1. ``missing field`` / ``bad field``: the header has ``M:`` and ``K:`` (and, after
   repair, ``L:``) with values ABC 2.1 allows;
2. ``unparseable``: music21 parses it without a warning (it reads an unknown letter
   as the note C, with a warning: no tune of the shipped corpus makes it warn);
3. ``too short``: it has at least ``min_bars`` bars and ``min_notes`` notes;
4. ``bad MIDI``: the MIDI file written from it reads back, with every note in it;
5. ``bad bar``: every bar lasts what ``M:`` says (`tfdl.music.meter.check_bars`: an
   anacrusis, the closing bar that completes it, repeats and endings, pickups into a
   later part are all allowed), and the body holds no syntax abc2midi rejects. The
   reason names the bar: ``bad bar: bar 7 lasts 5/8, M:6/8 needs 6/8``.
   ``SongCheck.valid_without_bar_check`` keeps the verdict of layers 1-4 alone, so
   numbers from before this layer existed stay comparable.

Before that, `repair_song` fixes only what has one right answer: a missing ``X:``
line or number becomes ``X:1``, a missing ``L:`` becomes the ABC 2.1 default for the
metre (exactly what a reader assumes anyway; music21 cannot read a tune without it),
and a second ``X:`` line, which starts another tune, ends the song.

`MemorisationIndex` tells whether a song copies a long run of a training tune's music.

music21 is imported only when a song is checked (it takes a second to import).
"""

import contextlib
import io
import re
import tempfile
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdl.errors import UserError
from tfdl.music import limits
from tfdl.music.abc import default_unit_length
from tfdl.music.meter import check_bars
from tfdl.music.notation import key_index

REASON_KINDS = (
    "too long", "missing field", "bad field", "unparseable", "too short", "bad MIDI", "bad bar"
)  # fmt: skip

# ABC 2.1 values: M: 6/8, 2+3/8, C, C| or none; L: 1/8; K: a tonic with an optional
# mode (m, or any word starting with a mode's first three letters, in any case) and
# accidentals or a clef after a space, "none", or the bagpipe keys HP and Hp.
_METRE = re.compile(r"(C\|?|none|\d+(\+\d+)*/\d+)")
_UNIT = re.compile(r"\d+/\d+")
_MODE = r"(?i:m|(maj|min|ion|mix|dor|phr|lyd|aeo|loc|exp)[a-z]*)"
_KEY = re.compile(rf"([A-G][#b]?( *{_MODE})?|none|HP|Hp)( .*)?")
_FIELD = re.compile(r"([A-Za-z]):(.*)")
# P: in the header: the order of the parts, e.g. ABAB, A2B or (AB)3 (abc2midi rejects others)
_PARTS = re.compile(r"[A-Z0-9().]+")
# Q: a tempo, "1/4=120", "3/8=112", or "120", with optional quoted text ("Slow")
_TEMPO = re.compile(r'("[^"]*"\s*)?((\d+/\d+\s*)+=\s*)?\d+(\s*"[^"]*")?')


@dataclass
class SongCheck:
    """What `check_song` found: ``reason`` is None exactly when ``valid``.

    ``song`` is the repaired text that was checked (write this one out: tools can
    read it); ``bars`` and ``notes`` count the tune as written (repeats not expanded),
    0 when checking stopped before music21 read it. ``valid_without_bar_check`` is
    the verdict of layers 1-4; ``bad_bars`` counts the bars of the wrong length.
    """

    valid: bool
    reason: str | None
    song: str
    bars: int = 0
    notes: int = 0
    valid_without_bar_check: bool = False
    bad_bars: int = 0


def split_songs(text):
    """Split ABC text (a file, or a model's raw output) into songs.

    An empty line ends a tune (ABC 2.1) and an ``X:`` line starts one. Blocks of
    ``%`` comments are dropped. When the text has ``X:`` lines, so do real tunes: a
    block with neither ``X:`` nor ``K:`` is free text (a file header, notes between
    tunes) and is dropped too. Everything else is a song, valid or not.
    """
    pieces = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        piece = []
        for line in block.strip("\n").splitlines():
            if line.startswith("X:") and piece:
                pieces.append(piece)
                piece = []
            piece.append(line)
        pieces.append(piece)
    has_x = any(line.startswith("X:") for piece in pieces for line in piece)
    songs = []
    for piece in pieces:
        lines = [line.rstrip() for line in piece]
        if all(not line or line.lstrip().startswith("%") for line in lines):
            continue
        if has_x and not any(line.startswith(("X:", "K:")) for line in lines):
            continue
        songs.append("\n".join(lines).strip("\n"))
    return songs


def repair_song(song):
    """The song with ``X:1`` first, an explicit ``L:`` and nothing after a second ``X:``.

    Nothing else changes; a song without ``K:`` gets no ``L:`` (it has no header end).
    """
    lines = song.strip("\n").splitlines()
    if lines and lines[0].startswith("X:"):
        if not re.fullmatch(r"X:[ ]*\d+[ ]*", lines[0]):
            lines[0] = "X:1"  # "X:" with no number, or a garbled one
    else:
        lines.insert(0, "X:1")
    for n, line in enumerate(lines[1:], 1):
        if line.startswith("X:"):
            lines = lines[:n]  # another tune starts here
            break
    key_line = key_index(lines)
    if key_line is not None:
        header = [line.replace(" ", "") for line in lines[:key_line]]
        if not any(h.startswith("L:") for h in header):
            lines.insert(key_line, default_unit_length(header))
    return "\n".join(lines)


def _header_fields(song):
    """``{field: value}`` of the header (lines up to the first ``K:``; first value wins)."""
    fields = {}
    for line in song.splitlines():
        match = _FIELD.fullmatch(line)
        if match:
            fields.setdefault(match[1], match[2].strip())
            if match[1] == "K":
                break
    return fields


def header_problem(song):
    """The first layer of `check_song`: ``"missing field: ..."`` or ``"bad field: ..."``,
    or None when ``M:`` and ``K:`` (and ``L:``, if present) hold values ABC 2.1 allows."""
    fields = _header_fields(song)
    for field in "MK":
        if field not in fields:
            return f"missing field: no {field}: line in the header"
    lines = song.split("\n")
    key_line = key_index(lines, len(lines))
    beyond = limits.header_problem(lines[: key_line + 1])
    if beyond:  # M:1000/1, L:1/99999, Q:0/4=120: before any number is converted
        return f"bad field: {beyond}"
    for field, pattern in (("M", _METRE), ("L", _UNIT), ("K", _KEY), ("P", _PARTS), ("Q", _TEMPO)):
        if field in fields and not pattern.fullmatch(fields[field]):
            return f"bad field: {field}:{fields[field][:40]}"
    if "Q" in fields and any(int(d) & (int(d) - 1) for d in re.findall(r"/(\d+)", fields["Q"])):
        return f"bad field: Q:{fields['Q'][:40]} (beat lengths are 1/2, 1/4, 3/8, ...)"
    return None


def error_line(error):
    """An exception as one short line (music21 messages can quote whole tunes)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:100]}{'...' if len(text) > 100 else ''}"


@contextlib.contextmanager
def _without_beaming():
    """music21 beams every ABC tune it parses, for printing: 2/3 of the parse time
    (measured on the corpus). Sound and counting need no beams, so `check_song`
    swaps beaming for a no-op while it parses, and puts it back after."""
    from music21.stream import makeNotation

    make_beams = makeNotation.makeBeams
    makeNotation.makeBeams = lambda *args, **kwargs: None
    try:
        yield
    finally:
        makeNotation.makeBeams = make_beams


def _parse(song):
    """``(score, warnings)``: music21's parse of a song and the warnings it printed.

    music21 writes its warnings straight to stderr ("Could not get pitch information
    from note: J, assuming C"); they are captured here, never shown. A text music21
    reads as several tunes (an Opus) gives its first. A text beyond `tfdl.music.limits`
    never reaches music21: `UserError`.
    """
    import warnings

    import music21

    beyond = limits.tune_problem(song)
    if beyond:
        raise UserError(f"beyond tfdl's limits: {beyond}")

    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(printed), _without_beaming():
        warnings.simplefilter("ignore")  # Python warnings: music21 handles what it warns of
        score = music21.converter.parse(song, format="abc")
    if isinstance(score, music21.stream.Opus):
        if not score.scores:
            raise ValueError("music21 found no tune in it")
        score = score.scores[0]
    found = [line.strip() for line in printed.getvalue().splitlines() if "WARNING" in line]
    return score, found


def parse_song(song):
    """Parse one (repaired) song with music21, quietly; returns a Score, raises on failure.

    The score has no beams (see `_without_beaming`): everything but engraving works.
    """
    return _parse(song)[0]


def _count(score):
    """``(bars, notes)`` of a score as written: the longest part's bars, sounding notes."""
    from music21 import harmony, stream

    parts = list(score.parts) or [score]
    bars = max(len(p.getElementsByClass(stream.Measure)) for p in parts)
    notes = sum(
        1
        for n in score.flatten().notes
        if n.duration.quarterLength > 0 and not isinstance(n, harmony.ChordSymbol)
    )
    return bars, notes


def check_song(song, min_bars=4, min_notes=8, midi_path=None):
    """Repair ``song`` and decide, layer by layer, whether it is music (see module doc).

    Args:
        song: the ABC text of one song.
        min_bars, min_notes: the least a song must have to count as music; 4 bars
            and 8 notes is a phrase (a real tune has 8 bars or more per part).
        midi_path: where to write the MIDI file of a valid song; None writes it to a
            temporary file, only to read it back. An invalid song leaves no file.

    Returns a `SongCheck`.
    """
    from tfdl.music.midi import read_midi_notes, score_notes, score_tempo, write_midi

    song = repair_song(song)

    def invalid(reason, bars=0, notes=0):
        return SongCheck(False, reason, song, bars, notes)

    beyond = limits.tune_problem(song)  # before music21 sees it (it hangs on B999999)
    if beyond:
        kind = {"tune": "too long", "header": "bad field", "body": "bad bar"}[beyond.part]
        return invalid(f"{kind}: {beyond}")
    problem = header_problem(song)
    if problem:
        return invalid(problem)

    try:
        score, warned = _parse(song)
        bars, notes = _count(score)
    except Exception as e:  # music21 raises many exception types for bad ABC
        return invalid(f"unparseable: {error_line(e)}")
    if warned:  # e.g. a letter that is no note, which music21 then plays as C
        detail = " ".join(warned[0].split("WARNING:", 1)[-1].split())
        return invalid(f"unparseable: music21 warned: {detail[:100]}", bars, notes)
    if bars < min_bars:
        return invalid(f"too short: {bars} bars, need {min_bars}", bars, notes)
    if notes < min_notes:
        return invalid(f"too short: {notes} notes, need {min_notes}", bars, notes)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(midi_path) if midi_path is not None else Path(tmp) / "song.mid"
        try:
            events = score_notes(score, song)
            write_midi(events, path, score_tempo(score))
            heard = len(read_midi_notes(path))
        except Exception as e:
            path.unlink(missing_ok=True)
            return invalid(f"bad MIDI: {error_line(e)}", bars, notes)
        if heard == 0 or heard != len(events):
            path.unlink(missing_ok=True)
            return invalid(f"bad MIDI: wrote {len(events)} notes, read back {heard}", bars, notes)
        metre = check_bars(song)
        if not metre.metrical:
            path.unlink(missing_ok=True)
            return SongCheck(
                False, f"bad bar: {metre.reason}", song, bars, notes, True, metre.bad_bars
            )
    return SongCheck(True, None, song, bars, notes, True)


def valid_fraction(checks):
    """The fraction of `SongCheck`s (or anything with ``.valid``) that are valid; 0 if none."""
    checks = list(checks)
    return sum(c.valid for c in checks) / len(checks) if checks else 0.0


def reason_kind(reason):
    """The kind of a `SongCheck` reason (``"too short: 2 bars, need 4"`` -> ``"too short"``)."""
    return reason.split(":", 1)[0]


def music_text(song):
    """The music of a song: the lines after its first ``K:`` line, whitespace removed.

    Line breaks and spaces only lay music out (spaces change beaming, not notes), so a
    copy laid out differently is still a copy. A song without ``K:`` is all music.
    """
    lines = song.splitlines()
    key_line = key_index(lines, -1)
    return "".join("".join(lines[key_line + 1 :]).split())


class MemorisationIndex:
    """Finds runs of ``run_length`` characters of a training tune's music in a song.

    Every window of ``run_length`` characters of every training tune's `music_text`
    is hashed once; the hashes are kept sorted in a numpy array (8 bytes per window:
    ~10 MB for the shipped corpus, built in about a second). A song is looked up by
    hashing its own windows and searching the array; a hash hit is confirmed against
    the training text, so a collision never counts as a copy.

    Args:
        training_tunes: the tunes the model learnt from (ABC text).
        run_length: characters of music, whitespace not counted, that make a copy;
            60 is three to four bars of a reel, more than a shared cadence or a scale.

    Example:
    ```python
    index = MemorisationIndex(train_tunes)
    copied = [index.contains_run(song) for song in songs]
    ```
    """

    def __init__(self, training_tunes, run_length=60):
        if int(run_length) < 1:
            raise ValueError(f"run_length must be >= 1, got {run_length!r}")
        self.run_length = int(run_length)
        bodies = [music_text(t) for t in training_tunes]
        # One string of all bodies; "\0" never occurs in a song, so no window that
        # straddles two tunes can be confirmed.
        self._text = "\0".join(bodies)
        self._tune_starts = np.cumsum([0] + [len(b) + 1 for b in bodies[:-1]]).tolist()
        hashes = self._hashes(self._text)
        self._order = np.argsort(hashes, kind="stable")  # window start of each sorted hash
        self._sorted = hashes[self._order]

    def _hashes(self, text):
        n = len(text) - self.run_length + 1
        if n <= 0:
            return np.zeros(0, np.int64)
        return np.fromiter(
            (hash(text[i : i + self.run_length]) for i in range(n)), np.int64, count=n
        )

    def find_run(self, song):
        """``(tune_index, copied_text)`` of the first copied run in ``song``, or None."""
        music = music_text(song)
        hashes = self._hashes(music)
        if not len(hashes) or not len(self._sorted):
            return None
        where = np.searchsorted(self._sorted, hashes)
        hit = (where < len(self._sorted)) & (
            self._sorted[np.minimum(where, len(self._sorted) - 1)] == hashes
        )
        for i in np.flatnonzero(hit):
            window = music[i : i + self.run_length]
            j = where[i]
            while j < len(self._sorted) and self._sorted[j] == hashes[i]:
                start = int(self._order[j])
                if self._text[start : start + self.run_length] == window:
                    return bisect_right(self._tune_starts, start) - 1, window
                j += 1
        return None

    def contains_run(self, song):
        """True if the song's music holds ``run_length`` characters copied from one tune."""
        return self.find_run(song) is not None

    def memorised_fraction(self, songs):
        """The fraction of ``songs`` that contain a copied run; 0 if there are none."""
        songs = list(songs)
        return sum(map(self.contains_run, songs)) / len(songs) if songs else 0.0
