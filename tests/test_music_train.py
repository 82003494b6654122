import dataclasses
import math

import pytest

from tfdl.errors import UserError
from tfdl.music.train import MusicConfig, learning_rate


def test_cosine_schedule_decays_to_one_percent_by_the_last_step():
    schedule = learning_rate(MusicConfig(steps=100, learning_rate=1e-2, lr_schedule="cosine"))
    assert float(schedule(0)) == pytest.approx(1e-2)
    # halfway down the cosine: 1 % floor + 99 % of half the start
    assert float(schedule(50)) == pytest.approx(1e-2 * (0.01 + 0.99 * 0.5))
    assert float(schedule(100)) == pytest.approx(1e-4)
    assert float(schedule(400)) == pytest.approx(1e-4)  # stays at the floor after the end


def test_constant_schedule_is_the_plain_rate():
    assert learning_rate(MusicConfig(learning_rate=3e-3)) == 3e-3


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"lr_schedule": "linear"}, "lr_schedule must be one of constant, cosine, got 'linear'"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"dropout": math.nan}, r"dropout must be in \[0, 1\), got nan"),
    ],
)
def test_bad_settings_are_refused_with_their_value(fields, message):
    with pytest.raises(ValueError, match=message):
        MusicConfig(**fields)


def test_a_resumed_run_trains_exactly_as_an_uninterrupted_one_in_the_same_process(
    tunes_file, tmp_path
):
    import json

    import keras
    import numpy as np
    import tensorflow as tf

    from tfdl.music.train import train_music

    # Dropout too: its random state must resume with the rest.
    sizes = dict(rnn_units=16, embedding_dim=8, batch_size=4, seq_length=40, dropout=0.2)
    sizes.update(eval_every=4, checkpoint_every=4, sample_songs=0)

    def train(out, steps, resume=False, global_seed=0):
        # Whatever ran before in this process, as in a notebook: other global seeds,
        # other random draws, other datasets.
        keras.utils.set_random_seed(global_seed)
        tf.random.uniform([global_seed + 1])
        next(iter(tf.data.Dataset.random()))
        config = MusicConfig(steps=steps, **sizes)
        train_music(config, out, tunes_file, resume=resume, tracking="off", progress=False)
        return json.loads((out / "history.json").read_text())

    straight = train(tmp_path / "straight", 12, global_seed=1)
    train(tmp_path / "stopped", 4, global_seed=2)
    resumed = train(tmp_path / "stopped", 12, resume=True, global_seed=3)
    assert resumed["steps"] == straight["steps"] == list(range(1, 13))
    np.testing.assert_array_equal(resumed["losses"], straight["losses"])
    np.testing.assert_array_equal(resumed["val_losses"], straight["val_losses"])


def test_transpose_adds_the_training_tunes_in_other_keys_and_leaves_the_held_out_ones(
    tunes_file, tmp_path
):
    from tfdl.music import abc
    from tfdl.music.train import train_music
    from tfdl.music.transpose import transpositions

    config = MusicConfig(steps=2, rnn_units=8, embedding_dim=4, batch_size=2, seq_length=20,
                         sample_songs=0, transpose=True)  # fmt: skip
    settings = train_music(config, tmp_path / "t", tunes_file, tracking="off", progress=False)
    plain = train_music(
        MusicConfig(steps=2, rnn_units=8, embedding_dim=4, batch_size=2, seq_length=20,
                    sample_songs=0),
        tmp_path / "p", tunes_file, tracking="off", progress=False,
    )  # fmt: skip
    train, val = abc.train_val_split(abc.load_tunes(tunes_file), 0.1, 0)
    _, added = transpositions(train)
    assert settings["transposed_tunes"] == added > len(train)
    assert settings["train_tunes"] == len(train) + added and plain["train_tunes"] == len(train)
    assert settings["val_tunes"] == plain["val_tunes"] == len(val)  # held out: never moved
    assert settings["transpose"] is True and plain["transposed_tunes"] == 0


def test_slides_add_rebarred_copies_of_the_training_jigs_only(tunes_file, tmp_path):
    from tfdl.music import abc
    from tfdl.music.rebar import slide_copies
    from tfdl.music.train import train_music

    config = MusicConfig(steps=1, rnn_units=8, embedding_dim=4, batch_size=2, seq_length=20,
                         sample_songs=0, slides=1.0)  # fmt: skip
    settings = train_music(config, tmp_path / "s", tunes_file, tracking="off", progress=False)
    train, val = abc.train_val_split(abc.load_tunes(tunes_file), 0.1, 0)
    slides = slide_copies(train, 1.0)
    assert settings["slide_tunes"] == len(slides) > 0
    assert settings["train_tunes"] == len(train) + len(slides)
    assert settings["val_tunes"] == len(val) and settings["slides"] == 1.0
    with pytest.raises(UserError, match="slides must be in"):
        MusicConfig(slides=1.5)


def test_the_auto_recipe_transposes_where_its_budget_goes_over_the_tunes_many_times(
    tunes_file, tmp_path
):
    from tfdl.music.train import train_music

    sizes = dict(rnn_units=8, embedding_dim=4, batch_size=16, seq_length=50, sample_songs=0)
    # a few seconds on a few tunes: dozens of epochs, so transposed
    many = train_music(MusicConfig(minutes=0.05, **sizes), tmp_path / "a", tunes_file,
                       tracking="off", progress=False)  # fmt: skip
    assert many["transpose"] is True and many["transposed_tunes"] > 0
    assert many["recipe_why"]["untransposed_epochs"] > 8
    refused = train_music(MusicConfig(minutes=0.05, transpose=False, **sizes), tmp_path / "b",
                          tunes_file, tracking="off", progress=False)  # fmt: skip
    assert refused["transpose"] is False and refused["transposed_tunes"] == 0
    lab = train_music(MusicConfig(steps=2, **sizes), tmp_path / "c", tunes_file,
                      tracking="off", progress=False)  # fmt: skip
    assert not lab["transpose"] and lab["transposed_tunes"] == 0


def test_a_short_budget_keeps_the_tunes_as_they_are_with_dropout_for_their_epochs():
    from tfdl.music.recipe import dropout_for
    from tfdl.music.train import _budget_transposition

    config = MusicConfig(minutes=1, steps=100, batch_size=10, seq_length=10, dropout=0.0)
    why = {"user_fixed": [], "planned_epochs": 0.33}
    short, why_short = _budget_transposition(config, why, plain_chars=2000, augmented_chars=6000)
    assert short.transpose is False and why_short["planned_epochs"] == 5.0
    assert short.dropout == dropout_for(5.0) == 0.1  # the recipe's, from the plain epochs
    kept, _ = _budget_transposition(config, {**why, "user_fixed": ["dropout"]}, 2000, 6000)
    assert kept.dropout == 0.0  # the user's
    long, why_long = _budget_transposition(config, why, plain_chars=1000, augmented_chars=3000)
    assert long.transpose is True and why_long["untransposed_epochs"] == 10.0
    assert why_long["planned_epochs"] == 3.33 and long.dropout == 0.0


def test_a_held_out_book_is_out_of_training_and_validation_and_scored_on_its_own(tmp_path):
    from tfdl.errors import UserError
    from tfdl.music import abc
    from tfdl.music.report import model_tunes
    from tfdl.music.train import train_music

    corpus = abc.load_corpus()
    books = abc.corpus_books()
    assert [len(r) for r in books.values()] == [1444, 841, 1075]  # abc_data/README.md
    assert sum(map(len, books.values())) == len(corpus)
    config = MusicConfig(steps=1, rnn_units=8, embedding_dim=4, batch_size=2, seq_length=20,
                         sample_songs=0, hold_out_book="ryansMammoth")  # fmt: skip
    settings = train_music(config, tmp_path / "b", tracking="off", progress=False)
    assert settings["held_out_book_tunes"] == 841
    assert settings["train_tunes"] + settings["val_tunes"] == len(corpus) - 841
    book = model_tunes(settings, split="book")
    seen = model_tunes(settings, split="train") + model_tunes(settings, split="val")
    assert len(book) == 841 and len(seen) == len(corpus) - 841
    assert not set(book) & set(seen)
    assert book[0].startswith("X:1\nT:7th Regiment -- Reel")  # Ryan's first kept tune
    with pytest.raises(UserError, match="no book 'Ryan'"):
        abc.split_off_book(corpus, "Ryan")
    with pytest.raises(UserError, match="held out no book"):
        model_tunes({"data": abc.SHIPPED_CORPUS}, split="book")
    with pytest.raises(UserError, match="drop --data"):
        train_music(config, tmp_path / "d", data=tmp_path / "x.abc", tracking="off")
    # fine-tuning a model without its book would train on the tunes it was scored on
    airds = dataclasses.replace(config, hold_out_book="airdsAirs")
    train_music(airds, tmp_path / "a", tracking="off", progress=False)
    with pytest.raises(UserError, match="held out the book airdsAirs"):
        again = dataclasses.replace(config, hold_out_book=None)
        train_music(again, tmp_path / "f", init_from=tmp_path / "a", tracking="off")
    # resumed without the flag, the run keeps its book out (run.json holds it)
    resumed = train_music(MusicConfig(steps=2), tmp_path / "b", resume=True, tracking="off",
                          progress=False)  # fmt: skip
    assert resumed["hold_out_book"] == "ryansMammoth" and resumed["held_out_book_tunes"] == 841
    assert (resumed["train_tunes"], resumed["val_tunes"]) == (
        settings["train_tunes"],
        settings["val_tunes"],
    )


@pytest.mark.slow
def test_a_run_recorded_before_its_run_json_held_data_resumes_and_records_the_resume(
    tunes_file, tmp_path
):
    import json

    from tfdl.music.train import train_music

    out = tmp_path / "old"
    config = MusicConfig(steps=2, rnn_units=8, embedding_dim=4, batch_size=2, seq_length=20,
                         sample_songs=0, checkpoint_every=2)  # fmt: skip
    train_music(config, out, tunes_file, tracking="off", progress=False)
    path = out / "checkpoints" / "run.json"
    run = json.loads(path.read_text())
    assert set(run) == {"config", "data", "recipe", "max_seconds"}
    del run["data"]  # as tfdl wrote it before music went through task.run_training
    path.write_text(json.dumps(run))
    resumed = train_music(
        MusicConfig(steps=4), out, tunes_file, resume=True, tracking="off", progress=False
    )
    assert (resumed["task"], resumed["steps_done"]) == ("music", 4)
    again = json.loads(path.read_text())  # the record says where the run goes now
    assert again["config"] == {**run["config"], "steps": 4, "sample_songs": 3}
    assert again["recipe"] == run["recipe"] and again["max_seconds"] is None
