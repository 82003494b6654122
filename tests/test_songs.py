import random

import pytest

from tfdl.music import abc, midi
from tfdl.music.songs import (
    MemorisationIndex,
    check_song,
    music_text,
    reason_kind,
    repair_song,
    split_songs,
    valid_fraction,
)

TUNE = "X:1\nT:Test\nM:6/8\nL:1/8\nK:D\n|:ABc def|gfe dcB|ABc def|gfe d3:|"  # 4 bars, 22 notes


def test_split_songs_at_blank_lines_and_x_lines_dropping_comments_and_free_text():
    text = (
        "%abc-2.1\n\nX:1\nT:a\nK:D\nabc|\n\nsome words between tunes\n\n"
        "X:2\nT:b\nK:G\ndef|  \nX:3\nK:A\nAAA|\n\n% only a comment\n"
    )
    assert split_songs(text) == ["X:1\nT:a\nK:D\nabc|", "X:2\nT:b\nK:G\ndef|", "X:3\nK:A\nAAA|"]
    assert split_songs(text.replace("\n", "\r\n")) == split_songs(text)  # Windows files
    # without any X: line every block is a candidate song (generated text may lack X:)
    assert split_songs("M:6/8\nK:D\nabc|\n\nnonsense\n") == ["M:6/8\nK:D\nabc|", "nonsense"]


@pytest.mark.parametrize(
    "song, repaired",
    [
        ("X:\nM:2/4\nK:D\nab|", "X:1\nM:2/4\nL:1/16\nK:D\nab|"),  # 2/4 defaults to 1/16
        ("T:t\nM:6/8\nK:D\nab|", "X:1\nT:t\nM:6/8\nL:1/8\nK:D\nab|"),  # no X: line
        ("X:3\nM:6/8\nL:1/4\nK:D\nab|", "X:3\nM:6/8\nL:1/4\nK:D\nab|"),  # nothing to do
        ("X:1\nM:C\nK:D\nab|\nX:2\nK:G\ncd|", "X:1\nM:C\nL:1/8\nK:D\nab|"),  # next tune cut
        ("X:1\nM:6/8\nab|", "X:1\nM:6/8\nab|"),  # no K: line, no header end for L:
    ],
)
def test_repair_song(song, repaired):
    assert repair_song(song) == repaired


def test_a_real_tune_is_valid_with_its_bars_and_notes_counted():
    check = check_song(TUNE)
    assert (check.valid, check.reason, check.bars, check.notes) == (True, None, 4, 22)
    assert check.song == TUNE


def test_a_repairable_song_is_checked_repaired():
    check = check_song(TUNE.replace("X:1", "X:").replace("L:1/8\n", ""))
    assert check.valid and "\nL:1/8\nK:D\n" in check.song and check.song.startswith("X:1\n")


def test_every_shipped_tune_sampled_is_valid():
    tunes = abc.load_corpus()[::400]
    checks = [check_song(t) for t in tunes]
    assert [c.reason for c in checks] == [None] * len(tunes)


@pytest.mark.parametrize(
    "song, kind, detail",
    [
        (TUNE.replace("K:D\n", ""), "missing field", "no K:"),
        (TUNE.replace("M:6/8\n", ""), "missing field", "no M:"),
        (TUNE.replace("M:6/8", "M:6/x"), "bad field", "M:6/x"),
        (TUNE.replace("K:D", "K:Zz"), "bad field", "K:Zz"),
        (TUNE.replace("ABc def|g", "ABc [[def|g"), "unparseable", "chord"),
        (TUNE.replace("dcB", "dJB"), "unparseable", "J"),  # music21 would play J as C
        ("X:1\nM:6/8\nL:1/8\nK:D\nABc def|gfe dcB|", "too short", "2 bars, need 4"),
        ("X:1\nM:6/8\nL:1/8\nK:D\nA6|B6|c6|d6|", "too short", "4 notes, need 8"),
    ],
)
def test_invalid_songs_name_the_layer_they_fail_in(song, kind, detail):
    check = check_song(song)
    assert not check.valid
    assert reason_kind(check.reason) == kind and detail in check.reason


def test_the_midi_layer_reads_the_written_file_back(monkeypatch, tmp_path):
    path = tmp_path / "song.mid"
    assert check_song(TUNE, midi_path=path).valid
    heard = [pitch for _, pitch in midi.read_midi_notes(path)]
    assert heard[:6] == [69, 71, 73, 74, 76, 78]  # A B c d e f in D major
    assert len(heard) == 2 * 22  # played twice: |: ... :|

    # a writer that loses the notes makes the song invalid, and leaves no file
    write_midi = midi.write_midi

    def silent_writer(events, path, qpm=120):
        return write_midi([], path, qpm)

    monkeypatch.setattr(midi, "write_midi", silent_writer)
    check = check_song(TUNE, midi_path=path)
    assert not check.valid and check.reason == "bad MIDI: wrote 44 notes, read back 0"
    assert not path.exists()


def test_valid_fraction():
    checks = [check_song(TUNE), check_song("X:1\nK:D\n"), check_song(TUNE)]
    assert valid_fraction(checks) == pytest.approx(2 / 3)
    assert valid_fraction([]) == 0.0


def test_music_text_is_the_body_without_whitespace():
    assert music_text("X:1\nT:a b\nK:D\nab c|\n d e|") == "abc|de|"


@pytest.fixture(scope="module")
def training():
    return abc.load_corpus()[:60]


def brute_force_copy(song, tunes, run_length):
    """The reference: slide over the song and search every training body."""
    music, bodies = music_text(song), [music_text(t) for t in tunes]
    return any(
        music[i : i + run_length] in body
        for i in range(len(music) - run_length + 1)
        for body in bodies
    )


def test_memorisation_index_finds_exactly_the_long_copied_runs(training):
    index = MemorisationIndex(training, run_length=60)
    body = music_text(training[7])
    # a copy laid out on other lines, with other spaces, is still a copy; 59 chars are not
    copy = "X:1\nM:6/8\nK:D\nz2|" + " ".join(body[10:70]) + "\n|z2"
    assert index.contains_run(copy)
    assert index.find_run(copy) == (7, body[10:70])
    assert not index.contains_run("X:1\nK:D\nz2|" + body[10:69] + "|z2")
    # the header is not music
    assert not index.contains_run("X:1\nT:" + body[:80] + "\nK:D\nabc|")
    # compared with the reference on random splices of training music and noise
    rng = random.Random(0)
    songs = []
    for _ in range(40):
        tune = music_text(rng.choice(training))
        start, length = rng.randrange(len(tune) // 2), rng.randrange(30, 90)
        noise = "".join(rng.choice("abcdefgABCDEFG|z2") for _ in range(rng.randrange(0, 20)))
        songs.append(f"X:1\nK:D\n{noise}{tune[start : start + length]}{noise}")
    expected = [brute_force_copy(s, training, 60) for s in songs]
    assert [index.contains_run(s) for s in songs] == expected
    assert 0 < sum(expected) < len(songs)  # both kinds were tested
    assert index.memorised_fraction(songs) == pytest.approx(sum(expected) / len(songs))


def test_a_run_straddling_two_training_tunes_is_no_copy(training):
    index = MemorisationIndex(training[:2], run_length=60)
    first, second = music_text(training[0]), music_text(training[1])
    song = "X:1\nK:D\n" + first[-30:] + second[:30]
    assert not brute_force_copy(song, training[:2], 60)
    assert not index.contains_run(song)


def test_memorisation_index_rejects_a_bad_run_length(training):
    with pytest.raises(ValueError, match="run_length must be >= 1, got 0"):
        MemorisationIndex(training, run_length=0)
