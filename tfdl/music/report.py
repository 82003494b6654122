"""How good a model's songs are: validity, bars, form, length, and copies of training tunes.

``tfdl music report`` generates songs and prints `song_report` as one JSON line.
"""

import math
import re
from collections import Counter

from tfdl.errors import UserError
from tfdl.music import abc
from tfdl.music.abc2midi import abc2midi_check, count_bar_lines, find_abc2midi
from tfdl.music.export import check_songs
from tfdl.music.form import form_numbers, melody_numbers, read_form
from tfdl.music.meter import check_bars
from tfdl.music.notation import FIELD_LINE, NOT_NOTES, key_index
from tfdl.music.songs import MemorisationIndex, reason_kind, repair_song, valid_fraction


def model_tunes(settings, data=None, split="train"):
    """The tunes a model learnt from (``split="train"``) or was validated on ("val").

    ``settings["data"]`` (the model's ``settings.json``) names the ABC file or directory
    ("shipped corpus" for the corpus inside tfdl); ``data`` replaces it (the file has
    moved). The split is redone with the settings' ``val_fraction`` and ``seed``, as
    training did; ``split="all"`` returns every tune, ``split="book"`` the source
    collection a model trained with ``hold_out_book`` never saw.
    """
    if split not in ("train", "val", "all", "book"):
        raise ValueError(f"split must be train, val, all or book, got {split!r}")
    source = data if data is not None else settings.get("data", abc.SHIPPED_CORPUS)
    try:
        tunes = abc.load_corpus() if source == abc.SHIPPED_CORPUS else abc.load_tunes(source)
    except abc.ABCError as e:
        raise UserError(f"cannot load the model's training tunes ({e}): pass --data") from None
    if split == "all":
        return tunes
    book = settings.get("hold_out_book")
    if split == "book" and not book:
        raise UserError("the model held out no book (train it with --hold-out-book)")
    if book:  # the book is out of both sides of the split, as in training
        tunes, book_tunes = abc.split_off_book(tunes, book)
        if split == "book":
            return book_tunes
    train, val = abc.train_val_split(tunes, *abc.saved_split(settings))
    return train if split == "train" else val


def training_tunes(settings, data=None):
    """The tunes a model learnt from, rebuilt from its ``settings.json`` (see `model_tunes`)."""
    return model_tunes(settings, data, "train")


def learnt_tunes(settings, train):
    """Every tune text a model trained on: its ``train`` tunes with the copies its run
    added, made as training made them (``slides``: re-barred jigs, `tfdl.music.rebar`;
    then ``transpose``: every tune in its mode's other common keys). A song that copies
    a transposed or re-barred training tune is as memorised as one that copies the
    tune itself."""
    from tfdl.music.rebar import slide_copies
    from tfdl.music.transpose import transpositions

    tunes = list(train)
    if settings.get("slides"):
        tunes += slide_copies(tunes, settings["slides"], settings.get("seed", 0))
    if settings.get("transpose"):
        tunes = transpositions(tunes)[0]
    return tunes


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


def _body(song):
    """The music lines of a song: after ``K:``, no field lines, quotes or inline fields."""
    lines = song.split("\n")
    key = key_index(lines, len(lines))
    music = [line for line in lines[key + 1 :] if not FIELD_LINE.match(line)]
    return NOT_NOTES.sub("", "\n".join(music))


def ends_on_tonic(song):
    """True if the song's last sounding note is the tonic of its (first) ``K:`` (letters
    compared: the key signature decides the accidental), read by `tfdl.music.form`: grace
    notes and rests are no notes, a chord sounds as its first note."""
    return read_form(song).ends_on_tonic


def has_repeats(song):
    """True if the song's body repeats a part (``:|`` or ``::``)."""
    return bool(re.search(r":\||::", _body(song)))


def musical_numbers(songs, abc2midi=None):
    """Bars and form of ABC songs, comparable between generated and real tunes.

    ``metrical_fraction``: songs whose every bar passes `tfdl.music.meter.check_bars`;
    ``bad_bar_rate``: bars of the wrong length over bar lines written; ``repeat_fraction``
    (`has_repeats`); the form of `tfdl.music.form.form_numbers`: ``phrase_regular_fraction``,
    ``two_part_fraction``, ``tonic_ending_fraction`` (`ends_on_tonic`), ``section_shapes``
    and ``part_similarity``; the melody of `tfdl.music.form.melody_numbers`:
    ``in_key_fraction`` and ``pitch_range``. With abc2midi
    installed (or ``abc2midi`` a path): ``abc2midi_parse_fraction`` (no error),
    ``abc2midi_metrical_fraction`` (no error, no bar warning) and ``abc2midi_bad_bar_rate``.
    """
    songs = [repair_song(song) for song in songs]
    n = len(songs)
    bars = [check_bars(song) for song in songs]
    bar_lines = sum(count_bar_lines(song) for song in songs)
    numbers = {
        "metrical_fraction": round(sum(b.metrical for b in bars) / n, 4),
        "bad_bar_rate": round(sum(b.bad_bars for b in bars) / max(bar_lines, 1), 4),
        "repeat_fraction": round(sum(map(has_repeats, songs)) / n, 4),
        **form_numbers(songs),
        **melody_numbers(songs),
    }
    program = abc2midi or find_abc2midi()
    if program:
        judged = abc2midi_check(songs, program)
        numbers["abc2midi_parse_fraction"] = round(sum(j.parsed for j in judged) / n, 4)
        numbers["abc2midi_metrical_fraction"] = round(sum(j.metrical for j in judged) / n, 4)
        numbers["abc2midi_bad_bar_rate"] = round(
            sum(j.bad_bars for j in judged) / max(bar_lines, 1), 4
        )
    return numbers


def song_report(songs, train_tunes, run_length=60, processes=None, min_bars=4, min_notes=8,
                learnt=None):  # fmt: skip
    """A JSON-able summary of generated songs.

    Keys: ``songs``; ``valid`` and ``valid_fraction`` (see `tfdl.music.songs.check_song`);
    ``valid_interval``, the 95 % `wilson_interval` of the valid fraction;
    ``valid_fraction_without_bar_check``, the fraction valid by the check as it was
    before bar lengths were checked (layers 1-4);
    ``reasons``, how many invalid songs failed in each layer; ``mean_length`` in
    characters (all songs) and ``mean_bars`` (valid songs); ``memorised`` and
    ``memorised_fraction``, the songs holding ``run_length`` characters of music copied
    from one training tune, or from one of ``learnt`` where given (`learnt_tunes`:
    the training tunes with their transposed and re-barred copies;
    `tfdl.music.songs.MemorisationIndex`); the
    `musical_numbers` of the songs; and ``reference``: the same numbers and
    ``mean_length`` for the training tunes, so generated and real stand side by side.
    """
    songs = list(songs)
    if not songs:
        raise ValueError("no songs to report on")
    checks = check_songs(songs, processes, min_bars, min_notes)
    index = MemorisationIndex(train_tunes if learnt is None else learnt, run_length)
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
        "valid_fraction_without_bar_check": round(
            sum(c.valid_without_bar_check for c in checks) / len(songs), 4
        ),
        **musical_numbers(songs),
        "reference": reference_numbers(train_tunes),
    }


def reference_numbers(tunes):
    """`musical_numbers` and ``mean_length`` of real tunes (the training tunes)."""
    tunes = list(tunes)
    if not tunes:
        return {}
    return {
        "tunes": len(tunes),
        "mean_length": round(sum(map(len, tunes)) / len(tunes), 1),
        **musical_numbers(tunes),
    }
