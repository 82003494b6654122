import os
import shutil
import wave
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from tfdl.errors import UserError
from tfdl.music import export
from tfdl.music.export import (
    MissingToolError,
    abc_to_midi,
    abc_to_svg,
    export_songs,
    find_abcm2ps,
    find_synthesiser,
    midi_to_wav,
)
from tfdl.music.midi import NoteEvent, read_midi_notes, score_notes, write_midi
from tfdl.music.songs import parse_song
from tfdl.plots import plot_piano_roll

TUNE = "X:1\nT:Test Tune\nM:6/8\nL:1/8\nQ:3/8=60\nK:D\n|:ABc def|gfe dcB|ABc def|gfe d3:|"
# repeat, tie across the bar, grace note, chord, chord symbol
# (music21 makes bars only from two plain "|" bar lines on)
ROLL = 'X:1\nM:4/4\nL:1/4\nK:C\n|:"C"C D {E}F G-|G2 [CE]2|C4:|'
ROLL_ONCE = [(0, 1, 60), (1, 2, 62), (2, 3, 65), (3, 6, 67), (6, 8, 60), (6, 8, 64), (8, 12, 60)]
ROLL_NOTES = ROLL_ONCE + [(s + 12, e + 12, p) for s, e, p in ROLL_ONCE]
JUNK = "X:1\nM:6/8\nK:D\nabc|dJf|abc|def|"  # J is no note


def tool_or_skip(find):
    try:
        return find()
    except MissingToolError as e:
        pytest.skip(str(e))


def test_score_notes_expands_repeats_merges_ties_and_skips_grace_notes_and_symbols():
    assert score_notes(parse_song(ROLL), ROLL) == [NoteEvent(*t) for t in ROLL_NOTES]


def test_abc_to_midi_writes_a_file_music21_reads_back(tmp_path):
    import music21

    path = abc_to_midi(TUNE, tmp_path / "tune.mid")
    score = music21.converter.parse(path)
    pitches = [p.midi for n in score.flatten().notes for p in n.pitches]
    d_major_run = [69, 71, 73, 74, 76, 78, 79, 78, 76, 74, 73, 71]
    assert pitches[:12] == d_major_run and len(pitches) == 44
    qpm = score.flatten().getElementsByClass(music21.tempo.MetronomeMark)[0].getQuarterBPM()
    assert qpm == pytest.approx(90)  # Q:3/8=60 is 90 quarter notes a minute
    with pytest.raises(ValueError, match="music21 cannot parse it"):
        abc_to_midi("X:1\nK:D\n[[[[", tmp_path / "bad.mid")
    assert not (tmp_path / "bad.mid").exists()


def test_export_songs_in_parallel_writes_files_for_valid_songs_only(tmp_path):
    songs = [TUNE, JUNK, ROLL.replace("K:C", "K:C\nT:x"), TUNE.replace("L:1/8\n", "")]
    results = export_songs(songs, tmp_path / "par", processes=2)
    assert [r.name for r in results] == ["song_001", "song_002", "song_003", "song_004"]
    assert [r.valid for r in results] == [True, False, False, True]
    assert results[1].reason.startswith("unparseable: music21 warned")  # "h" is no note
    assert results[2].reason == "too short: 3 bars, need 4"
    out = tmp_path / "par"
    assert sorted(p.name for p in out.iterdir()) == [
        "song_001.abc", "song_001.mid", "song_002.abc", "song_003.abc", "song_004.abc",
        "song_004.mid",
    ]  # fmt: skip
    assert results[0].files == [str(out / "song_001.abc"), str(out / "song_001.mid")]
    repaired = songs[3].replace("K:D", "L:1/8\nK:D")  # the default L: made explicit
    assert (out / "song_004.abc").read_text() == repaired + "\n"
    assert len(read_midi_notes(out / "song_004.mid")) == 44
    # one process gives the same results
    alone = export_songs(songs, tmp_path / "one", processes=1)
    assert [(r.valid, r.reason, r.bars, r.notes) for r in alone] == [
        (r.valid, r.reason, r.bars, r.notes) for r in results
    ]


def test_export_songs_from_files_writes_next_to_them_or_to_out_dir(tmp_path):
    (tmp_path / "two.abc").write_text(f"%abc-2.1\n\n{TUNE}\n\n{TUNE.replace('X:1', 'X:2')}\n")
    (tmp_path / "one.abc").write_text(TUNE + "\n")
    files = [tmp_path / "two.abc", tmp_path / "one.abc"]
    results = export_songs(files, processes=1)
    assert [(r.name, r.valid) for r in results] == [
        ("two_01", True),
        ("two_02", True),
        ("one", True),
    ]
    assert all((tmp_path / f"{n}.mid").is_file() for n in ("two_01", "two_02", "one"))
    assert not (tmp_path / "one_01.abc").exists()  # input files are not rewritten
    results = export_songs(files[1:], tmp_path / "out", processes=1)
    assert results[0].files == [str(tmp_path / "out" / "one.mid")]


def test_export_songs_rejects_what_it_cannot_name(tmp_path):
    with pytest.raises(ValueError, match="out_dir is needed"):
        export_songs([TUNE])
    with pytest.raises(ValueError, match="two songs would be written to .*same"):
        export_songs([TUNE, TUNE], tmp_path, names=["same", "same"])
    with pytest.raises(ValueError, match="got 1 names for 2 songs"):
        export_songs([TUNE, TUNE], tmp_path, names=["a"])


def test_wav_with_the_installed_synthesiser(tmp_path):
    synthesiser = tool_or_skip(find_synthesiser)
    (result,) = export_songs([TUNE], tmp_path, midi=False, wav=True, processes=1)
    assert result.errors == [] and result.files[-1] == str(tmp_path / "song_001.wav")
    assert not (tmp_path / "song_001.mid").exists()  # only asked for WAV
    with wave.open(result.files[-1]) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getframerate() == export.SAMPLE_RATE
    # 2 x 4 bars of 6/8 (24 quarter notes) at 90 a minute: 16 s, plus the ringing out
    assert 16 <= seconds < 22, (synthesiser, seconds)


def test_timidity_renders_when_it_is_the_only_synthesiser(tmp_path, monkeypatch):
    timidity = shutil.which("timidity")
    if timidity is None:
        pytest.skip("timidity is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "timidity").symlink_to(timidity)
    monkeypatch.setenv("PATH", str(bin_dir))
    synthesiser = find_synthesiser()
    assert synthesiser.name == "timidity"
    abc_to_midi(TUNE, tmp_path / "t.mid")
    with wave.open(str(midi_to_wav(tmp_path / "t.mid", tmp_path / "t.wav", synthesiser))) as w:
        assert w.getnframes() / w.getframerate() >= 16


def test_svg_sheet_music_with_abcm2ps(tmp_path):
    tool_or_skip(find_abcm2ps)
    (result,) = export_songs([TUNE], tmp_path, midi=False, sheet=True, processes=1)
    assert result.errors == [] and result.files[-1] == str(tmp_path / "song_001.svg")
    svg = Path(result.files[-1]).read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and "Test Tune" in svg


def test_missing_tools_raise_one_line_saying_what_to_install(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(MissingToolError) as info:
        export_songs([TUNE], tmp_path / "out", wav=True)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("no synthesiser for WAV: install FluidSynth")
    assert "(Debian: apt-get install fluidsynth timgm6mb-soundfont)" in message
    with pytest.raises(MissingToolError, match=r"apt-get install abcm2ps\)$"):
        abc_to_svg(TUNE, tmp_path / "x.svg")
    assert not (tmp_path / "out").exists()  # nothing converted before the error


def test_fluidsynth_without_a_soundfont_says_so(tmp_path, monkeypatch):
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        pytest.skip("fluidsynth is not installed")
    (tmp_path / "fluidsynth").symlink_to(fluidsynth)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TFDL_SOUNDFONT", raising=False)
    monkeypatch.setattr(export, "SOUNDFONTS", ())
    with pytest.raises(MissingToolError, match="^FluidSynth has no soundfont: install"):
        find_synthesiser()
    monkeypatch.setenv("TFDL_SOUNDFONT", os.devnull + "-none")
    with pytest.raises(MissingToolError):
        find_synthesiser()


def test_piano_roll_draws_one_bar_per_note(tmp_path):
    fig = plot_piano_roll(ROLL, path=tmp_path / "roll.png")
    (ax,) = fig.axes
    bars = sorted((p.get_x(), p.get_width(), p.get_y() + p.get_height() / 2) for p in ax.patches)
    assert bars == sorted((s, e - s, pitch) for s, e, pitch in ROLL_NOTES)
    assert (tmp_path / "roll.png").stat().st_size > 1000
    plt.close(fig)
    with pytest.raises(UserError, match="takes a song's ABC text, not a Score"):
        plot_piano_roll(parse_song(ROLL))  # a Score does not say the play order


def test_a_failing_synthesiser_is_noted_per_song_and_stops_nothing(tmp_path, monkeypatch):
    broken = export.Synthesiser("timidity", shutil.which("false"))
    monkeypatch.setattr(export, "find_synthesiser", lambda: broken)
    (result,) = export_songs([TUNE], tmp_path, wav=True, processes=1)
    assert result.valid and result.files == [
        str(tmp_path / f"song_001{s}") for s in (".abc", ".mid")
    ]
    assert result.errors == ["wav: RuntimeError: timidity failed (exit 1): no output"]


def worker_pid(_):
    return os.getpid()


def test_a_pool_only_for_enough_songs_unless_processes_are_given():
    assert set(export.map_songs(worker_pid, range(5))) == {os.getpid()}  # too few for a pool
    pids = set(export.map_songs(worker_pid, range(8), processes=2))
    assert len(pids) <= 2 and os.getpid() not in pids
    if export.default_processes() >= 2:
        many = export.SONGS_PER_PROCESS * 2
        assert os.getpid() not in set(export.map_songs(worker_pid, range(many)))


@pytest.mark.parametrize("qpm, microseconds", [(120, 500_000), (2, 0xFFFFFF), (1e9, 1)])
def test_midi_tempo_is_clamped_to_what_three_bytes_hold(tmp_path, qpm, microseconds):
    path = write_midi([NoteEvent(0, 1, 60)], tmp_path / "t.mid", qpm)
    data = path.read_bytes()
    at = data.index(bytes([0xFF, 0x51, 0x03]))  # the set-tempo meta event
    assert int.from_bytes(data[at + 3 : at + 6], "big") == microseconds
