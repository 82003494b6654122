"""abcMIDI's ``abc2midi -c`` as an independent judge of songs (optional: Debian ``abcmidi``).

tfdl checks bars itself (`tfdl.music.meter`); abc2midi is the reference it is tested
against and the number `tfdl music report` gives beside its own when abc2midi is
installed. All songs go through one abc2midi run (a few milliseconds a song): each is
numbered ``X:1, X:2, ...`` in one file, and each message is given to the song whose
lines it names.
"""

import bisect
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tfdl.errors import MissingFileError

_MESSAGE = re.compile(r"(Error|Warning) in line-char (\d+)-\d+ : (.*)")
_BAR_WARNING = re.compile(r"Track \d+ Bar (\d+) has .* time units while the time signature has")


@dataclass
class Abc2midiCheck:
    """abc2midi's word on one song.

    ``parsed``: no error. ``metrical``: no error and no bar-length warning (the
    definition used by the issue tracker and the model card). ``bad_bars``: the
    distinct bars it flags; ``bar_lines``: the bar lines written (``|`` runs), the
    denominator of a bad-bar rate.
    """

    parsed: bool
    metrical: bool
    bad_bars: int
    bar_lines: int
    errors: list = field(default_factory=list)


def find_abc2midi():
    """The path of ``abc2midi``, or None when it is not installed."""
    return shutil.which("abc2midi")


def count_bar_lines(song):
    """Bar lines written in a song's body: each run of ``|`` ``:`` ``]`` holding a ``|``."""
    body = song.split("\nK:", 1)[-1].split("\n", 1)[-1] if "\nK:" in song else song
    body = re.sub(r'"[^"\n]*"', "", body)
    return len(re.findall(r"[:\[]*\|[|:\]]*", body)) + len(re.findall(r"(?<![|:])::(?![|:])", body))


def abc2midi_check(songs, program=None, timeout=120):
    """`Abc2midiCheck` for each song (ABC text with a header), in order.

    Some errors stop abc2midi (``c/6``: "note length denominator is zero or less"):
    it exits non-zero and says nothing of the songs after. The song it stopped in is
    not parsed, and the songs after it go through abc2midi again.

    Raises `MissingFileError` (a FileNotFoundError) when abc2midi is not installed.
    """
    program = program or find_abc2midi()
    if program is None:
        raise MissingFileError("abc2midi is not installed (Debian: apt-get install abcmidi)")
    songs = list(songs)
    checks = []
    while len(checks) < len(songs):
        checks += _check_run(songs[len(checks) :], program, timeout)
    return checks


def _check_run(songs, program, timeout):
    """`Abc2midiCheck` for ``songs`` from one abc2midi run: for each of them, or up to
    and including the song where abc2midi stopped."""
    texts, starts, line = [], [], 1
    for n, song in enumerate(songs, 1):
        lines = song.strip("\n").split("\n")
        lines = [f"X:{n}", *(lines[1:] if lines and lines[0].startswith("X:") else lines)]
        starts.append(line)
        texts.append("\n".join(lines))
        line += len(lines) + 1  # the blank line after each tune
    errors = [[] for _ in songs]
    flagged = [set() for _ in songs]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "songs.abc"
        path.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
        result = subprocess.run(
            [program, str(path), "-c"], capture_output=True, text=True, timeout=timeout, cwd=tmp
        )
    last = -1  # the last song abc2midi spoke of
    for message in (result.stdout + result.stderr).splitlines():
        match = _MESSAGE.match(message)
        if not match:
            continue
        song = bisect.bisect_right(starts, int(match[2])) - 1
        if song < 0:
            continue
        last = max(last, song)
        if match[1] == "Error":
            errors[song].append(match[3])
            continue
        bar = _BAR_WARNING.match(match[3])
        if bar:
            flagged[song].add(int(bar[1]))
    if result.returncode != 0:
        if last < 0:
            raise RuntimeError(f"abc2midi failed without naming a line: {result.stderr.strip()}")
        errors[last].append("abc2midi stopped here")
        songs = songs[: last + 1]
    return [
        Abc2midiCheck(not e, not e and not f, len(f), count_bar_lines(s), e)
        for s, e, f in zip(songs, errors, flagged)
    ]
