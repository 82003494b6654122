import json
import math
import os
import re
import subprocess
import sys
import time
import zipfile

import pytest
from conftest import TINY_MUSIC, last_json_line, tiny_music

from tfdl.cli import main

TINY = TINY_MUSIC


def test_train_writes_model_vocab_settings_plot_and_comet_archive(trained):
    for name in ("model.keras", "vocab.json", "settings.json", "loss.png", "samples.abc"):
        assert (trained / name).is_file(), name
    settings = json.loads((trained / "settings.json").read_text())
    assert settings["steps_done"] == 30 and settings["rnn_units"] == 16
    # Training lowered the loss: an untrained model scores about ln(vocab), ~4.5 nats/char,
    # which is what its first batch cost; 30 steps of the tiny model must beat that clearly.
    history = json.loads((trained / "history.json").read_text())
    assert settings["val_loss"] < history["losses"][0] - 0.5
    archive = next((trained / "comet").glob("*.zip"))
    with zipfile.ZipFile(archive) as z:
        messages = [json.loads(line) for line in z.read("messages.json").splitlines()]
    metrics = {m["payload"]["metric"]["metricName"] for m in messages if m["type"] == "metric_msg"}
    assert {"loss", "val_loss", "bits_per_char", "val_bits_per_char"} <= metrics
    params = {
        m["payload"]["param"]["paramName"]: m["payload"]["param"]["paramValue"]
        for m in messages
        if m["type"] == "parameter_msg"
    }
    assert params["rnn_units"] == 16 and params["seq_length"] == 40
    # The recipe and why it was chosen: the lab's, as --steps alone asks.
    assert params["recipe"] == "lab" and "recipe_user_fixed" in params


def test_generate_writes_one_abc_file_per_song(trained, tmp_path, capsys):
    out = tmp_path / "songs"
    assert (
        main(
            [
                "music",
                "generate",
                "--model",
                str(trained),
                "--out",
                str(out),
                "--num-songs",
                "3",
                "--length",
                "80",
                "--prime",
                "X:1\\nM:6/8\\n",
            ]
        )
        == 0
    )
    summary = last_json_line(capsys)
    files = sorted(out.glob("*.abc"))
    assert summary["songs"] == 3 and len(files) == 3
    assert all(f.read_text().startswith("X:1\nM:6/8\n") for f in files)


def test_evaluate_prints_one_json_line(trained, tunes_file, capsys):
    assert main(["music", "evaluate", "--model", str(trained), "--data", str(tunes_file)]) == 0
    result = last_json_line(capsys)
    assert {"loss", "bits_per_char", "chars"} <= result.keys()
    vocab_size = json.loads((trained / "settings.json").read_text())["vocab_size"]
    # below ln(vocab), what a model that learnt nothing scores
    assert result["chars"] > 1000 and 0 < result["loss"] < math.log(vocab_size) - 0.5


def test_evaluate_defaults_to_the_shipped_model_and_skips_unscorable_tunes(tmp_path, capsys):
    from tfdl.music import abc

    tunes = abc.load_corpus()[:3]
    tunes[1] = tunes[1] + "\n€"  # a character no model here ever saw
    data = tmp_path / "other.abc"
    data.write_text("\n\n".join(tunes) + "\n")
    assert main(["music", "evaluate", "--data", str(data)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["tunes"] == 2 and [s["tune"] for s in result["skipped_tunes"]] == [2]
    warning = captured.err.strip().splitlines()[-1]
    assert warning.startswith("tfdl: warning: skipped 1 of 3 tunes") and "'€'" in warning
    assert 0.5 < result["loss"] < 2.5  # the shipped model knows these tunes' idiom


def test_evaluate_split_scores_the_held_out_tunes_apart(trained, tunes_file, capsys):
    from tfdl.music import abc

    results = {}
    for split in ("train", "val"):  # the data comes from the model's settings.json
        assert main(["music", "evaluate", "--model", str(trained), "--split", split]) == 0
        results[split] = last_json_line(capsys)
    assert main(["music", "evaluate", "--model", str(trained), "--data", str(tunes_file)]) == 0
    everything = last_json_line(capsys)
    train, val = abc.train_val_split(abc.load_tunes(tunes_file), 0.1, 0)
    assert (results["train"]["tunes"], results["val"]["tunes"]) == (len(train), len(val))
    assert results["val"]["split"] == "val" and everything["split"] == "all"
    # The two splits' characters partition the corpus, and so do their summed losses.
    assert results["train"]["chars"] + results["val"]["chars"] == everything["chars"]
    summed = sum(r["loss"] * r["chars"] for r in results.values())
    assert summed == pytest.approx(everything["loss"] * everything["chars"], rel=1e-4)


def test_resume_continues_to_the_new_step_count(tunes_file, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["music", "train", "--data", str(tunes_file), "--out", str(out), "--tracking", "off"]
    assert main([*args, *TINY, "--seed", "5"]) == 0
    # the flags left out keep the run's values (its seed, its size, its --data file),
    # not the defaults (the shipped corpus)
    again = ["music", "train", "--out", str(out), "--tracking", "off"]
    assert main([*again, "--steps", "45", "--resume", "--no-progress"]) == 0
    summary = last_json_line(capsys)
    assert summary["steps_done"] == 45
    history = json.loads((out / "history.json").read_text())
    assert history["steps"] == list(range(1, 46))
    settings = json.loads((out / "settings.json").read_text())
    assert settings["seed"] == 5 and settings["rnn_units"] == 16
    assert settings["data"] == str(tunes_file)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["music", "generate", "--model", "{tmp}/missing", "--out", "{tmp}/o"],
            "no model directory at",
        ),
        (
            ["music", "generate", "--model", "{run}", "--out", "{tmp}/o", "--prime", "X:1\\n€"],
            "prime has characters not in the vocabulary: '€'",
        ),
        (
            ["music", "train", "--out", "{tmp}/r", "--steps", "5", "--resume", "--tracking", "off"],
            "no checkpoint to resume from",
        ),
        (
            ["music", "train", "--data", "{tmp}/none.abc", "--out", "{tmp}/r", "--steps", "5"],
            "no such file or directory",
        ),
        (
            ["music", "train", "--out", "{tmp}/r", "--steps", "5", "--dropout", "1"],
            "dropout must be in [0, 1), got 1.0",
        ),
        (
            ["music", "evaluate", "--model", "{tmp}", "--data", "{tmp}"],
            "has no model.keras or vocab.json",
        ),
        (["music", "train", "--out", "{tmp}/r"], "give --steps, --minutes, or both"),
        (
            ["music", "train", "--out", "{tmp}/r", "--recipe", "auto", "--steps", "5"],
            "recipe 'auto' fits a time budget: give minutes",
        ),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, trained, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, run=trained) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tfdl: error: ") and message in err[-1]


def test_bad_flag_values_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["music", "train", "--out", "x", "--steps", "0"])
    assert exit_info.value.code == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


def test_init_from_starts_from_the_saved_weights(trained, tunes_file, tmp_path, capsys):
    import keras
    import numpy as np

    from tfdl.music.saved import load_music_model

    out = tmp_path / "tuned"
    argv = ["music", "train", "--data", str(tunes_file), "--out", str(out), "--tracking", "off"]
    # one step at a tiny learning rate: weights stay next to the start
    tiny = tiny_music(steps=1, learning_rate=1e-9)
    assert main([*argv, *tiny, "--init-from", str(trained)]) == 0
    start, _, _ = load_music_model(trained)
    tuned, _, settings = load_music_model(out)
    assert settings["init_from"] == str(trained)
    for a, b in zip(start.get_weights(), tuned.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    ids = np.arange(6, dtype="int32")[None] % start.vocab_size
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(start(ids)), keras.ops.convert_to_numpy(tuned(ids)), atol=1e-5
    )
    bigger = tiny_music(rnn_units=32)  # other rnn_units: refused
    assert (
        main([*argv[:-2], "--out", str(tmp_path / "x"), *bigger, "--init-from", str(trained)]) == 2
    )
    assert "this run asks for" in capsys.readouterr().err
    other_split = ["--out", str(tmp_path / "y"), *TINY, "--seed", "1", "--init-from", str(trained)]
    assert main([*argv[:-2], *other_split]) == 2  # would train on the start's held-out tunes
    assert "pass --seed 0" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "y" / "checkpoints").exists()


def test_dropout_and_cosine_schedule_reach_the_saved_model(tunes_file, tmp_path, capsys):
    from tfdl.music.saved import load_music_model

    out = tmp_path / "regularised"
    argv = ["music", "train", "--data", str(tunes_file), "--out", str(out), "--tracking", "off"]
    tiny = tiny_music(steps=20, dropout=0.3, lr_schedule="cosine")
    assert main([*argv, *tiny]) == 0
    model, _, settings = load_music_model(out)
    assert model.dropout == 0.3
    assert (settings["dropout"], settings["lr_schedule"]) == (0.3, "cosine")


def _command_parser(*names):
    """The argparse parser of ``tfdl NAMES...``, e.g. ``_command_parser("music", "train")``."""
    import argparse

    from tfdl.cli import _parser

    parser = _parser()
    for name in names:
        (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subparsers.choices[name]
    return parser


# A value other than the default for every field that `tfdl ... train` has a flag for.
@pytest.mark.parametrize(
    "command, config_name, given",
    [
        (
            ("music", "train"),
            "tfdl.music.config.MusicConfig",
            dict(steps=7, minutes=2.5, recipe="lab", batch_size=3, seq_length=11,
                 embedding_dim=5, rnn_units=6, learning_rate=0.02, lr_schedule="cosine",
                 warmup_steps=3, dropout=0.1, clip_norm=2.0, checkpoint_every=4, eval_every=2,
                 transpose=True, slides=0.3, lookback=True, hold_out_book="airdsAirs", seed=9),
        ),
        (
            ("digits", "train"),
            "tfdl.digits.config.DigitsConfig",
            dict(model="dense", epochs=2, batch_size=3, learning_rate=0.02, loop="fit",
                 augment=True, seed=9),
        ),
        (
            ("faces", "train"),
            "tfdl.faces.config.FacesConfig",
            dict(model="dbvae", epochs=2, batch_size=3, learning_rate=0.02, latent_dim=4, seed=9),
        ),
    ],
)  # fmt: skip
def test_a_config_flag_has_its_fields_comment_for_help_and_reaches_the_field(
    command, config_name, given
):
    import dataclasses
    import importlib

    from tfdl.cli import _parser
    from tfdl.command import config_from_flags, field_comments

    module, name = config_name.rsplit(".", 1)
    config_class = getattr(importlib.import_module(module), name)
    defaults = config_class()
    flags = {
        a.dest: a
        for a in _command_parser(*command)._actions
        if a.dest in {f.name for f in dataclasses.fields(config_class)}
    }
    assert sorted(flags) == sorted(given)  # every field with a flag is tried below
    for field, action in flags.items():
        flag = "--" + field.replace("_", "-")
        no = (
            ["--no-" + flag[2:]]
            if given[field] is True and getattr(defaults, field) is None
            else []
        )
        assert action.option_strings == [flag, *no]  # a switch the recipe may turn on: --no-
        assert action.help.startswith(field_comments(config_class)[field].replace("%", "%%"))
        assert getattr(defaults, field) != given[field], field  # the flag has to matter
    argv = [*command, "--out", "x"]
    for field, value in given.items():
        argv += [f"--{field.replace('_', '-')}"] + ([] if value is True else [str(value)])
    config = config_from_flags(config_class, _parser().parse_args(argv))
    assert dataclasses.asdict(config) == {**dataclasses.asdict(defaults), **given}
    switches = [f for f, a in flags.items() if len(a.option_strings) == 2]
    argv = [*command, "--out", "x", *(f"--no-{f.replace('_', '-')}" for f in switches)]
    config = config_from_flags(config_class, _parser().parse_args(argv))
    assert all(getattr(config, f) is False for f in switches)


def test_config_arguments_make_flags_from_a_dataclass_and_its_comments():
    import argparse
    from dataclasses import dataclass

    from tfdl.command import config_arguments

    @dataclass
    class Settings:
        # The number of widgets: 50 % more than
        # last year's.
        widgets: int = 3
        rate: float | None = None  # a comment after code is no field's help

        # A blank line parts this comment from the field below.

        name: str = "x"
        # Turn it on.
        loud: bool = False
        # Not a flag: not named below.
        hidden: int = 1

    parser = argparse.ArgumentParser()
    config_arguments(parser, Settings, ["widgets", "loud"])
    actions = {a.dest: a for a in parser._actions}
    assert actions.keys() == {"help", "widgets", "loud"}
    widgets = actions["widgets"]
    assert widgets.option_strings == ["--widgets"] and widgets.default is None
    assert widgets.help == "The number of widgets: 50 %% more than last year's. (default: 3)"
    assert "50 % more" in parser.format_help()
    assert parser.parse_args(["--loud"]).loud is True
    assert parser.parse_args([]).loud is None  # left out: the config keeps its value
    with pytest.raises(SystemExit):
        parser.parse_args(["--widgets", "0"])  # an int field takes a positive integer
    for uncommented in ("rate", "name"):
        with pytest.raises(TypeError, match=f"Settings.{uncommented} has no comment"):
            config_arguments(argparse.ArgumentParser(), Settings, [uncommented])


@pytest.mark.slow
def test_cli_stderr_holds_no_tensorflow_start_up_lines(tmp_path):
    import os
    import re
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "TFDL_VERBOSE"))}
    argv = [sys.executable, "-m", "tfdl.cli", "music", "generate", "--out", str(tmp_path)]
    argv += ["--num-songs", "1", "--length", "40", "--free"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not re.search(r"^[IWE]0000 ", done.stderr, re.M), done.stderr
    assert "absl::InitializeLog" not in done.stderr and "cuda" not in done.stderr.lower()
    # TFDL_VERBOSE=1 lets TensorFlow speak again
    loud = subprocess.run(
        [sys.executable, "-c", "import tfdl, tensorflow"],
        capture_output=True,
        text=True,
        env={**env, "TFDL_VERBOSE": "1"},
        timeout=300,
    )
    assert re.search(r"^[IWE]0000 ", loud.stderr, re.M), loud.stderr


def test_progress_bars_are_live_on_a_terminal_and_sparse_in_a_log():
    import io

    from tfdl.training import LOG_REFRESH_SECONDS, progress_pacing

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress_pacing(Terminal()) == {}
    assert progress_pacing(io.StringIO())["mininterval"] == LOG_REFRESH_SECONDS >= 5


def progress_updates(text):
    """How many times a tqdm bar drew itself: each draw starts after a '\\r' or a '\\n'."""
    return len(re.findall(r"train:\s+\d+%", text))


@pytest.mark.slow
def test_a_logged_training_writes_one_progress_update_per_interval(tunes_file, tmp_path):
    # A real training in a child process, its stderr a file (no terminal), the bar's
    # interval lowered from 10 s to 1 s through the same setting. 150 steps of the tiny
    # model take a few seconds: the bar may draw at most once a second, plus its first and
    # last draw. Before set_postfix(refresh=False) it drew at every step (~150 times).
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFDL_")}
    env["TFDL_PROGRESS_SECONDS"] = "1"
    tiny = tiny_music(progress=True, steps=150, eval_every=50, checkpoint_every=150)
    argv = [sys.executable, "-m", "tfdl.cli", "music", "train", "--data", str(tunes_file)]
    argv += ["--out", str(tmp_path / "run"), "--tracking", "offline"]
    argv += tiny
    log = tmp_path / "train.log"
    started = time.monotonic()
    with open(log, "w") as stderr:
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env, timeout=600)
    elapsed = time.monotonic() - started  # the process's whole life bounds the bar's
    text = log.read_text()
    assert done.returncode == 0, text
    updates = progress_updates(text)
    assert "150/150" in text and 2 <= updates <= elapsed + 2, (updates, elapsed, text)
    # comet's chatter is gone; the one line a user needs, how to upload the run, stays.
    assert "COMET INFO: Still saving" not in text and "COMET WARNING" not in text, text
    assert text.count("comet upload ") == 1, text


@pytest.mark.slow
def test_comet_speaks_again_with_tfdl_verbose(tmp_path):
    code = (
        "from tfdl.tracking import Tracker\n"
        f"t = Tracker('offline', offline_dir={str(tmp_path)!r})\n"
        "t.log_metrics({'loss': 1.0}, step=1)\n"
        "t.end()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFDL_")}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    loud = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**env, "TFDL_VERBOSE": "1"},
    )  # fmt: skip
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    comet_lines = [line for line in quiet.stderr.splitlines() if line.startswith("COMET")]
    assert comet_lines == ["COMET INFO: To upload this offline experiment, run:"], quiet.stderr
    assert quiet.stderr.count("comet upload ") == 1, quiet.stderr
    assert "COMET INFO: Begin archiving" in loud.stderr, loud.stderr
    assert loud.stderr.count("comet upload ") == 1, loud.stderr


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("a bug"), OSError("a bug")])
def test_a_bug_shows_its_traceback_not_a_user_error_line(bug, monkeypatch, capsys):
    from tfdl.music import cli as music_cli

    def broken(args):  # a plain exception, not a tfdl.errors.UserError: a bug
        raise bug

    monkeypatch.setattr(music_cli, "_evaluate", broken)
    with pytest.raises(type(bug), match="a bug"):  # raised on: Python prints the traceback
        main(["music", "evaluate"])
    assert "tfdl: error:" not in capsys.readouterr().err


def test_tfdl_debug_shows_the_traceback_of_a_user_error(monkeypatch, tmp_path):
    from tfdl.errors import UserError

    monkeypatch.setenv("TFDL_DEBUG", "1")
    with pytest.raises(UserError, match="no model directory at"):
        main(["music", "evaluate", "--model", str(tmp_path / "missing")])


def test_every_flag_of_every_command_says_what_it_does():
    import argparse

    from tfdl.cli import _parser

    def silent(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from silent(sub, f"{path} {name}")
            elif action.option_strings and action.dest != "help":
                # a default alone, "(default: 0)", does not say what the flag does
                words = re.sub(r"\(?default: [^)]*\)?", "", action.help or "").strip()
                if not words:
                    yield f"{path} {action.option_strings[-1]}"

    assert list(silent(_parser(), "tfdl")) == []
