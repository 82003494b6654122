"""``tfdl music generate --midi/--wav/--sheet``, ``tfdl music export`` and ``tfdl music report``
on a tiny model (30 training steps on 40 corpus tunes: it writes no valid song of its own,
so tests that need valid songs prime it with a whole tune)."""

import json
import zipfile

import pytest
from conftest import last_json_line

from tfdl.cli import main
from tfdl.music import abc, saved
from tfdl.music.export import MissingToolError, find_abcm2ps, find_synthesiser
from tfdl.music.songs import check_song, music_text

TUNE = "X:1\nT:x\nM:6/8\nL:1/8\nK:D\n|:ABc def|gfe dcB|ABc def|gfe d3:|"


def installed(find):
    try:
        find()
        return True
    except MissingToolError:
        return False


def test_generate_writes_files_for_valid_songs_and_logs_them_as_assets(trained, tmp_path, capsys):
    out = tmp_path / "songs"
    flags = ["--midi"]
    flags += ["--wav"] if installed(find_synthesiser) else []
    flags += ["--sheet"] if installed(find_abcm2ps) else []
    argv = ["music", "generate", "--model", str(trained), "--out", str(out), "--num-songs", "3"]
    # a whole tune as the prime, and 3 more characters: valid songs from a tiny model
    argv += ["--length", "3", "--prime", TUNE.replace("\n", "\\n") + "\\n", "--tracking", "offline"]
    assert main([*argv, *flags]) == 0
    summary = last_json_line(capsys)
    songs = sorted(out.glob("*.abc"))
    valid = [p for p in songs if check_song(p.read_text()).valid]
    assert summary["songs"] == 3 and len(songs) == 3
    assert summary["valid"] == len(valid) >= 1
    suffixes = [".abc", ".mid"] + [{"--wav": ".wav", "--sheet": ".svg"}[f] for f in flags[1:]]
    written = sorted(p.name for p in out.iterdir() if p.is_file())
    assert written == sorted(
        [p.name for p in songs] + [p.stem + s for p in valid for s in suffixes[1:]]
    )
    assert all(summary[f[2:]] == len(valid) for f in flags)
    with zipfile.ZipFile(summary["comet_archive"]) as z:
        messages = [json.loads(line) for line in z.read("messages.json").splitlines()]
    uploads = [m["payload"] for m in messages if m["type"] == "file_upload"]
    assert sorted(u["additional_params"]["fileName"] for u in uploads) == written


def test_generate_says_in_one_line_how_many_songs_could_not_keep_their_form(
    trained, tmp_path, capsys
):
    # a tiny model in 60 characters cannot write two 8-bar parts of a jig
    argv = ["music", "generate", "--model", str(trained), "--out", str(tmp_path / "s")]
    argv += ["--num-songs", "2", "--length", "60", "--type", "jig", "--tracking", "off"]
    assert main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "tfdl: warning: 2 of 2 songs could not keep the jig form in up to 9 tries and end at "
        "their last whole bar (another --seed, or --form free, may do better)"
    ]


def test_generate_skips_invalid_songs_and_defaults_to_the_pretrained_model(
    trained, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(saved, "pretrained_dir", lambda: trained)
    out = tmp_path / "songs"
    argv = ["music", "generate", "--out", str(out), "--num-songs", "2", "--length", "60"]
    assert main([*argv, "--midi"]) == 0  # no --model
    captured = capsys.readouterr()
    summary = json.loads(captured.out.splitlines()[-1])
    assert (summary["songs"], summary["valid"], summary["midi"]) == (2, 0, 0)
    err = captured.err
    for n in (1, 2):
        reason = check_song((out / f"song_00{n}.abc").read_text()).reason
        assert f"skipped song_00{n}: {reason}\n" in err
    assert not list(out.glob("*.mid"))


def test_generate_without_a_pretrained_model_says_to_pass_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(saved, "MODEL_FILE", "not-there.keras")
    assert main(["music", "generate", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tfdl: error: no pretrained model at ") and "--model" in err[-1]


@pytest.fixture
def abc_dir(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    tunes = abc.load_corpus()
    (tmp_path / "in" / "set.abc").write_text(f"{tunes[0]}\n\n{tunes[1]}\n\nX:3\nM:6/8\nK:D\nJJ\n")
    (tmp_path / "in" / "sub" / "one.abc").write_text(tunes[2] + "\n")
    return tmp_path / "in"


def test_export_writes_midi_next_to_each_file_and_skips_invalid_songs(abc_dir, capsys):
    assert main(["music", "export", str(abc_dir), "--processes", "2"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.splitlines()[-1])
    assert (summary["songs"], summary["valid"], summary["midi"]) == (4, 3, 3)
    assert sorted(p.relative_to(abc_dir).as_posix() for p in abc_dir.rglob("*.mid")) == [
        "set_01.mid",
        "set_02.mid",
        "sub/one.mid",
    ]
    reason = "unparseable: music21 warned: Could not get pitch information from note: J"
    assert f"skipped set_03: {reason}, assuming C\n" == captured.err


def test_export_to_out_writes_only_what_was_asked(abc_dir, tmp_path, capsys):
    if not installed(find_abcm2ps):
        pytest.skip("abcm2ps is not installed")
    out = tmp_path / "out"
    argv = ["music", "export", str(abc_dir / "sub" / "one.abc"), "--out", str(out), "--sheet"]
    assert main(argv) == 0
    summary = last_json_line(capsys)
    assert (summary["songs"], summary["valid"], summary["sheet"]) == (1, 1, 1)
    assert "midi" not in summary and [p.name for p in out.iterdir()] == ["one.svg"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{tmp}/none.abc"], "no such file or directory: {tmp}/none.abc"),
        (["{tmp}/bin"], "directory holds no .abc files"),
        (["{tmp}/words.abc"], "no songs in {tmp}/words.abc"),
        (["{tmp}/words.abc", "--wav"], "no synthesiser for WAV: install FluidSynth"),
        (["{tmp}/words.abc", "--sheet"], "(Debian: apt-get install abcm2ps)"),
    ],
)
def test_export_errors_exit_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "words.abc").write_text("%abc-2.1\n% comments only\n")
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no synthesiser, no abcm2ps
    assert main(["music", "export", *(a.format(tmp=tmp_path) for a in argv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tfdl: error: ") and message.format(tmp=tmp_path) in err[-1]


def training_split(tunes_file):
    return abc.train_val_split(abc.load_tunes(tunes_file), 0.1, 0)


def test_report_prints_validity_and_memorisation(trained, tunes_file, capsys):
    train, val = training_split(tunes_file)
    header = "X:1\nM:6/8\nL:1/8\nK:D\n"
    copied = header + music_text(train[3])[:70]
    argv = ["music", "report", "--model", str(trained), "--num-songs", "3", "--length", "20"]
    argv += ["--free"]  # the prime ends in mid-bar, which only the free sampler continues
    assert main([*argv, "--prime", copied.replace("\n", "\\n")]) == 0
    report = last_json_line(capsys)
    assert report["sampling"] == "free" and "prime ends in mid-bar" in report["metrical"]["error"]
    assert "prime ends in mid-bar" in report["form"]["error"]
    for numbers in (report, report["reference"]):  # the form, of the songs and the tunes
        assert 0 <= numbers["two_part_fraction"] <= numbers["phrase_regular_fraction"] <= 1
        assert 0 <= numbers["tonic_ending_fraction"] <= 1 and numbers["section_shapes"]
    assert report["reference"]["part_similarity"] > 0
    assert report["songs"] == 3 and report["memorised_fraction"] == 1.0
    assert 0 <= report["valid_fraction"] <= 1 and report["mean_length"] >= len(copied)
    low, high = report["valid_interval"]
    assert 0 <= low <= report["valid_fraction"] <= high <= 1 and high - low > 0.3  # 3 songs
    assert sum(report["reasons"].values()) == report["songs"] - report["valid"]
    # 70 characters of a held-out tune are no copy of a training tune
    held_out = header + music_text(val[0])[:70]
    music = music_text(held_out)
    assert not any(music[i : i + 60] in music_text(t) for i in range(11) for t in train)
    assert main([*argv, "--prime", held_out.replace("\n", "\\n")]) == 0
    assert last_json_line(capsys)["memorised_fraction"] == 0.0


def test_report_without_the_training_data_says_to_pass_data(trained, tmp_path, capsys):
    argv = ["music", "report", "--model", str(trained), "--num-songs", "1", "--length", "5"]
    assert main([*argv, "--data", str(tmp_path / "gone.abc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "cannot load the model's training tunes" in err[-1] and err[-1].endswith("pass --data")


A_REEL_PART = "X:1\\nM:C|\\nL:1/8\\nK:D\\n|:" + "ABcd efge|" * 7 + "ABcd e4:|\\n"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--parts", "0"], "argument --parts: expected a positive integer, got '0'"),
        (["--type", "jig", "--bars-per-part", "3"], "a part of a 6/8 tune is phrases of 4 bars"),
        (["--type", "hoedown"], "unknown tune type 'hoedown' (types: jig, reel, hornpipe"),
        (
            ["--type", "reel", "--bars-per-part", "4", "--prime", A_REEL_PART],
            "the prime's part 1 has 8 bars, longer than the 4 bars per part asked for",
        ),
    ],
)
def test_bad_form_settings_get_one_line(flags, message, tmp_path, capsys):
    argv = ["music", "generate", "--out", str(tmp_path), "--num-songs", "1", *flags]
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith(("tfdl: error: ", "tfdl music generate"))
