"""The time-budget recipe: its size rule, the lab's recipe, and a budgeted run."""

import json
import shutil

import numpy as np
import pytest

from tfdl.music import recipe
from tfdl.music.recipe import LAB, SIZES, dropout_for, fit_recipe, lab_recipe, parameter_count
from tfdl.music.train import MusicConfig, learning_rate, train_music

IDS = np.arange(2_000_000) % 50  # an encoded corpus of 2 M characters over 50 symbols
# Seconds per step of each size on an imaginary machine, with windows of 32 x 200
# characters: 640 units and up are too slow for a 100 s budget (about 1 character per
# parameter), 512 just fits (4.6).
STEP_SECONDS = {128: 0.01, 256: 0.02, 384: 0.05, 512: 0.1, 640: 0.3, 768: 0.5, 1024: 1.0}


def table_probe(probed):
    def probe(ids, vocab_size, size, batch_size, seq_length):
        probed.append(size)
        return STEP_SECONDS[size[1]]

    return probe


def test_size_rule_takes_the_largest_size_that_sees_enough_characters_per_parameter():
    probed = []
    windows = {"batch_size": 32, "seq_length": 200}
    settings, why = fit_recipe(100.0, IDS, 50, windows, probe=table_probe(probed))
    assert settings["rnn_units"] == 512
    # Probing stops at the first size that falls short: larger ones are slower still.
    assert [units for _, units in probed] == [128, 256, 384, 512, 640]
    ratio = why["chars_per_parameter"]
    assert ratio["LSTM 512"] >= recipe.CHARS_PER_PARAMETER > ratio["LSTM 640"]
    expected = (
        100.0 * (1 - recipe.OVERHEAD_FRACTION) / 0.1 * 32 * 200 / parameter_count(50, 128, 512)
    )
    assert ratio["LSTM 512"] == pytest.approx(expected, rel=0.01)
    # The schedule spans the budget: steps from the chosen size's time per step.
    assert settings["steps"] == pytest.approx(100.0 * (1 - recipe.OVERHEAD_FRACTION) / 0.1, abs=2)
    assert settings["lr_schedule"] == "cosine"
    assert 0 < settings["warmup_steps"] <= recipe.MAX_WARMUP_STEPS
    epochs = settings["steps"] * 32 * 200 / len(IDS)
    assert settings["dropout"] == dropout_for(epochs) == 0.1  # 2.9 epochs


def test_a_small_corpus_caps_the_size_whatever_the_budget():
    probed = []
    small = IDS[:400_000]  # LSTM 384 (763 k parameters) fits 2.5 per character, 512 not
    settings, why = fit_recipe(1e6, small, 50, probe=table_probe(probed))
    assert settings["rnn_units"] == 384 and probed[-1] == (96, 384)
    assert "parameters per character of data" in why["size_rule"]


def test_transposed_copies_count_as_at_most_twice_the_tunes_own_characters():
    probed = []
    small = IDS[:400_000]  # with the tunes' own 100 k: a cap of 2.5 x 200 k parameters
    settings, why = fit_recipe(1e6, small, 50, probe=table_probe(probed), data_chars=100_000)
    assert settings["rnn_units"] == 256 and why["data_cap_chars"] == 200_000
    assert parameter_count(50, 96, 384) > 2.5 * 200_000 > parameter_count(50, 64, 256)
    settings, _ = fit_recipe(1e6, small, 50, probe=table_probe([]), data_chars=300_000)
    assert settings["rnn_units"] == 384  # the transposed corpus itself caps it


def test_a_long_budget_ends_its_schedule_where_the_data_runs_out():
    small = IDS[:400_000]
    settings, why = fit_recipe(1e6, small, 50, probe=table_probe([]))
    # 50 passes over 400 k characters in windows of 32 x 100
    assert settings["steps"] == int(recipe.MAX_EPOCHS * 400_000 / 3200) == 6250
    assert why["epochs_of_own_text"] == pytest.approx(recipe.MAX_EPOCHS, abs=0.01)
    # transposed copies are not more data to learn: the tunes' own 100 k count
    settings, why = fit_recipe(1e6, small, 50, probe=table_probe([]), data_chars=100_000)
    assert settings["steps"] == int(recipe.MAX_EPOCHS * 100_000 / 3200)
    # 12.5 passes over the transposed text would take 0.2; 50 over the tunes' own, 0.35
    assert dropout_for(settings["steps"] * 3200 / 400_000) == 0.2
    assert settings["dropout"] == recipe.LONG_DROPOUT == 0.35
    # a short budget is not stretched, and steps the user gives are kept
    settings, _ = fit_recipe(100.0, small, 50, probe=table_probe([]))
    assert settings["steps"] < 6250
    settings, _ = fit_recipe(1e6, small, 50, {"steps": 9000}, probe=table_probe([]))
    assert settings["steps"] == 9000


def test_a_budget_too_small_for_any_size_takes_the_smallest():
    probed = []
    settings, _ = fit_recipe(0.5, IDS, 50, probe=table_probe(probed))
    assert (settings["embedding_dim"], settings["rnn_units"]) == SIZES[0]
    assert probed == [SIZES[0]]


def test_settings_the_user_fixed_are_kept_and_only_their_size_is_probed():
    probed = []
    fixed = {"rnn_units": 384, "dropout": 0.05, "batch_size": 16, "learning_rate": 1e-3}
    settings, why = fit_recipe(100.0, IDS, 50, fixed, probe=table_probe(probed))
    assert probed == [(96, 384)]
    assert {k: settings[k] for k in fixed} == fixed
    assert why["user_fixed"] == sorted(fixed)
    # A constant rate of the user's has no warm-up (which needs the cosine schedule).
    settings, _ = fit_recipe(100.0, IDS, 50, {"lr_schedule": "constant"}, probe=table_probe([]))
    assert (settings["lr_schedule"], settings["warmup_steps"]) == ("constant", 0)
    MusicConfig(**settings)  # a valid config


def test_dropout_rises_with_the_epochs_a_budget_allows():
    rates = [dropout_for(epochs) for epochs in (0.5, 2, 5, 20, 100)]
    assert rates == sorted(rates) and rates[0] == 0.0 and rates[-1] > 0.2
    # past LONG_EPOCHS passes over the tunes' own text, at least LONG_DROPOUT
    assert dropout_for(10, own_epochs=recipe.LONG_EPOCHS) == 0.2
    assert dropout_for(10, own_epochs=recipe.LONG_EPOCHS + 1) == recipe.LONG_DROPOUT
    assert dropout_for(1, own_epochs=recipe.LONG_EPOCHS + 1) == recipe.LONG_DROPOUT


def test_the_lab_recipe_is_the_labs_hyperparameters_and_probes_only_for_a_budget():
    def no_probe(*args):
        raise AssertionError("a run with steps needs no probe")

    settings, _ = lab_recipe(None, IDS, 50, probe=no_probe)
    assert settings == {**LAB, "steps": 3000}
    probed = []
    settings, why = lab_recipe(100.0, IDS, 50, {"seq_length": 50}, probe=table_probe(probed))
    assert probed == [(256, 1024)] and settings["seq_length"] == 50
    assert settings["steps"] == pytest.approx(100.0 * (1 - recipe.OVERHEAD_FRACTION), abs=2)


def test_the_recipe_fields_a_run_keeps_are_the_ones_a_recipe_chooses():
    # tfdl.music.config lists them without importing the recipe (and Keras).
    from tfdl.music.config import RECIPE_FIELDS

    assert RECIPE_FIELDS == tuple(LAB)


def test_warm_up_rises_to_the_rate_then_cosine_decays_to_one_percent():
    config = MusicConfig(steps=110, learning_rate=1e-2, lr_schedule="cosine", warmup_steps=10)
    schedule = learning_rate(config)
    assert float(schedule(0)) == pytest.approx(1e-4)
    assert float(schedule(5)) == pytest.approx(0.5 * (1e-4 + 1e-2))
    assert float(schedule(10)) == pytest.approx(1e-2)
    assert float(schedule(110)) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"recipe": "auto"}, "recipe 'auto' fits a time budget: give minutes"),
        ({"minutes": 0}, "minutes must be > 0, got 0"),
        ({"recipe": "fast", "minutes": 1}, "recipe must be one of lab, auto, got 'fast'"),
        ({"warmup_steps": 5, "lr_schedule": "constant"}, "warmup_steps needs lr_schedule"),
    ],
)
def test_bad_recipe_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        MusicConfig(**fields)


TINY = dict(rnn_units=16, embedding_dim=8, batch_size=4, seq_length=40, sample_songs=0)


@pytest.mark.slow
def test_a_budgeted_run_stops_on_time_and_records_its_recipe(tunes_file, tmp_path):
    out = tmp_path / "run"
    config = MusicConfig(minutes=0.15, **TINY)
    settings = train_music(config, out, tunes_file, tracking="off", progress=False)
    assert settings["recipe"] == "auto"
    assert settings["steps_done"] <= settings["steps"]
    # The trainer gets what the data and the probe left of the 9 s budget (that it stops
    # within its share is the Trainer's own test, on a fake clock: no wall-clock bound here).
    run = json.loads((out / "checkpoints" / "run.json").read_text())
    assert 1.0 <= run["max_seconds"] < 9.0
    why = settings["recipe_why"]
    assert list(why["seconds_per_step"]) == ["LSTM 16"]
    assert why["user_fixed"] == sorted(["rnn_units", "embedding_dim", "batch_size", "seq_length"])
    assert (settings["learning_rate"], settings["lr_schedule"]) == (recipe.LEARNING_RATE, "cosine")
    saved = json.loads((out / "settings.json").read_text())
    assert saved["recipe_why"] == why and saved["minutes"] == 0.15


@pytest.mark.slow
def test_resume_continues_the_saved_recipe_and_refuses_a_changed_setting(tunes_file, tmp_path):
    config = MusicConfig(minutes=5, steps=8, checkpoint_every=4, eval_every=4, **TINY)
    whole = train_music(config, tmp_path / "whole", tunes_file, tracking="off", progress=False)

    # The same run, crashed after step 4: its last checkpoint is step 4's.
    run = tmp_path / "crashed"
    train_music(config, run, tunes_file, tracking="off", progress=False)
    shutil.rmtree(run / "checkpoints" / "ckpt-00000008")
    (run / "checkpoints" / "latest").write_text("ckpt-00000004\n")
    model_bytes = (run / "model.keras").read_bytes()
    with pytest.raises(ValueError, match="batch_size is 8 but the run being resumed used 4"):
        train_music(MusicConfig(batch_size=8), run, tunes_file, resume=True, tracking="off")
    with pytest.raises(ValueError, match="planned 8, where its cosine schedule ends"):
        train_music(MusicConfig(steps=20), run, tunes_file, resume=True, tracking="off")
    assert (run / "model.keras").read_bytes() == model_bytes  # refused before touching it

    # No settings given: the saved recipe, schedule and budget carry on to step 8.
    resumed = train_music(
        MusicConfig(), run, tunes_file, resume=True, tracking="off", progress=False
    )
    assert resumed["steps_done"] == 8
    assert {k: resumed[k] for k in config.chosen()} == {k: whole[k] for k in config.chosen()}
    assert resumed["val_loss"] == pytest.approx(whole["val_loss"], rel=1e-5)
