"""How good a model's songs are: valid fraction, length, and copies of training tunes.

``tfdl music report`` generates songs and prints `song_report` as one JSON line.
"""

import math
from collections import Counter

from tfdl.music import abc
from tfdl.music.export import check_songs
from tfdl.music.songs import MemorisationIndex, reason_kind, valid_fraction


def model_tunes(settings, data=None, split="train"):
    """The tunes a model learnt from (``split="train"``) or was validated on ("val").

    ``settings["data"]`` (the model's ``settings.json``) names the ABC file or directory
    ("shipped corpus" for the corpus inside tfdl); ``data`` replaces it (the file has
    moved). The split is redone with the settings' ``val_fraction`` and ``seed``, as
    training did; ``split="all"`` returns every tune.
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be train, val or all, got {split!r}")
    source = data if data is not None else settings.get("data", abc.SHIPPED_CORPUS)
    try:
        tunes = abc.load_corpus() if source == abc.SHIPPED_CORPUS else abc.load_tunes(source)
    except abc.ABCError as e:
        raise ValueError(f"cannot load the model's training tunes ({e}): pass --data") from None
    if split == "all":
        return tunes
    train, val = abc.train_val_split(tunes, *abc.saved_split(settings))
    return train if split == "train" else val


def training_tunes(settings, data=None):
    """The tunes a model learnt from, rebuilt from its ``settings.json`` (see `model_tunes`)."""
    return model_tunes(settings, data, "train")


def wilson_interval(successes, trials, z=1.96):
    """``(low, high)``: the Wilson score interval of a fraction ``successes / trials``.

    With ``z=1.96`` it holds the true fraction with 95 % confidence. A sample of 100
    songs pins a 95 % valid fraction only to about +-4 points, so a goal like "at least
    95 % valid" is met only when ``low`` clears it. Unlike the normal approximation it
    stays inside [0, 1] and is not empty at 0 or ``trials`` successes.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    p, z2 = successes / trials, z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def song_report(songs, train_tunes, run_length=60, processes=None, min_bars=4, min_notes=8):
    """A JSON-able summary of generated songs.

    Keys: ``songs``; ``valid`` and ``valid_fraction`` (see `tfdl.music.songs.check_song`);
    ``valid_interval``, the 95 % `wilson_interval` of the valid fraction;
    ``reasons``, how many invalid songs failed in each layer; ``mean_length`` in
    characters (all songs) and ``mean_bars`` (valid songs); ``memorised`` and
    ``memorised_fraction``, the songs holding ``run_length`` characters of music copied
    from one training tune (`tfdl.music.songs.MemorisationIndex`).
    """
    songs = list(songs)
    if not songs:
        raise ValueError("no songs to report on")
    checks = check_songs(songs, processes, min_bars, min_notes)
    index = MemorisationIndex(train_tunes, run_length)
    memorised = sum(map(index.contains_run, songs))
    valid_bars = [c.bars for c in checks if c.valid]
    reasons = Counter(reason_kind(c.reason) for c in checks if not c.valid)
    return {
        "songs": len(songs),
        "valid": len(valid_bars),
        "valid_fraction": round(valid_fraction(checks), 4),
        "valid_interval": [round(x, 4) for x in wilson_interval(len(valid_bars), len(songs))],
        "mean_length": round(sum(map(len, songs)) / len(songs), 1),
        "mean_bars": round(sum(valid_bars) / len(valid_bars), 1) if valid_bars else 0.0,
        "memorised": memorised,
        "memorised_fraction": round(memorised / len(songs), 4),
        "run_length": run_length,
        "reasons": dict(sorted(reasons.items())),
    }
