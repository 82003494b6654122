"""Generated ABC to MIDI with music21 (no external binaries)."""

from pathlib import Path


def _reason(e):
    """An exception as one short line (music21 messages can quote whole tunes)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:120]}{'...' if len(text) > 120 else ''}"


def abc_to_midi(abc_text, path):
    """Parse one tune with music21 and write it as a MIDI file at ``path``.

    Raises ValueError naming the reason when music21 cannot parse the tune or
    finds no notes in it (generated text is not always music).
    """
    import music21  # slow to import: only when exporting

    try:
        score = music21.converter.parse(abc_text, format="abc")
    except Exception as e:  # music21 raises many exception types for bad ABC
        raise ValueError(f"music21 cannot parse it ({_reason(e)})") from None
    if isinstance(score, music21.stream.Opus):
        if not score.scores:
            raise ValueError("music21 found no tune in it")
        score = score.scores[0]
    if not score.flatten().notes:
        raise ValueError("it has no notes")
    path = Path(path)
    try:
        score.write("midi", fp=str(path))
    except Exception as e:
        path.unlink(missing_ok=True)
        raise ValueError(f"music21 cannot write MIDI ({_reason(e)})") from None
    return path
