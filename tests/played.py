"""What abc2midi plays: the reference the music tests hear a tune by."""

import subprocess

from tfdl.music.midi import read_midi_notes


def abc2midi_notes(text, path):
    """``(start tick, pitch)`` of every note abc2midi plays for the tune ``text``, in
    order; ``path`` (a pathlib.Path, its suffix replaced) names the .abc and .mid files."""
    abc, mid = path.with_suffix(".abc"), path.with_suffix(".mid")
    abc.write_text(text.rstrip("\n") + "\n")
    subprocess.run(["abc2midi", abc, "-o", mid], capture_output=True, check=True, timeout=60)
    return sorted(read_midi_notes(mid))
