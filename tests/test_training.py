import json
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl.checkpoints import CheckpointDir, CheckpointError
from tfdl.training import TrainConfig, Trainer

TRUE_W = np.array([[1.0], [-2.0], [0.5]], "float32")


def regression_data(seed=0, n=256, batch=32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = x @ TRUE_W + 0.3
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=1).batch(batch)


def mse_loss(model, batch, training):
    x, y = batch
    return keras.ops.mean((model(x, training=training) - y) ** 2)


def make(out_dir, steps, strategy=None, units=1, lr=0.05, **config):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])
        optimizer = keras.optimizers.Adam(lr)
    cfg = TrainConfig(steps=steps, **config)
    return Trainer(model, optimizer, mse_loss, out_dir, cfg, strategy=strategy, progress=False)


def test_trainer_fits_linear_regression_and_writes_outputs(tmp_path):
    trainer = make(tmp_path, steps=200, eval_every=50, checkpoint_every=100)
    history = trainer.fit(regression_data(), val_data=regression_data())
    assert history.steps == list(range(1, 201))
    assert history.losses[-1] < 1e-3 < history.losses[0]
    assert history.val_steps == [50, 100, 150, 200]
    w, b = trainer.model.get_weights()
    np.testing.assert_allclose(w, TRUE_W, atol=1e-2)
    assert (tmp_path / "loss.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["losses"] == history.losses
    assert CheckpointDir(tmp_path / "checkpoints").latest().name == "ckpt-00000200"


def test_mirrored_strategy_on_two_logical_cpus_matches_single_device(tmp_path):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, "conftest splits the CPU in two"
    strategy = tf.distribute.MirroredStrategy(devices)
    assert strategy.num_replicas_in_sync == 2
    mirrored = make(tmp_path / "m", steps=30, strategy=strategy).fit(regression_data())
    single = make(tmp_path / "s", steps=30).fit(regression_data())
    # Each replica sees half the batch; the summed, scaled gradients equal the full-batch ones.
    np.testing.assert_allclose(mirrored.losses, single.losses, rtol=1e-4)


def test_resume_continues_exactly_where_training_stopped(tmp_path):
    straight = make(tmp_path / "a", steps=60).fit(regression_data())

    make(tmp_path / "b", steps=25, checkpoint_every=25).fit(regression_data())
    resumed_trainer = make(tmp_path / "b", steps=60)
    resumed = resumed_trainer.fit(regression_data(), resume=True)
    assert resumed.steps == list(range(1, 61))  # history carried over
    # same step count, optimizer state and data position: the same losses
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-5)
    assert int(resumed_trainer.optimizer.iterations.numpy()) == 60


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        make(tmp_path, steps=5).fit(regression_data(), resume=True)


def test_resume_from_a_different_model_is_a_clear_error(tmp_path):
    make(tmp_path, steps=5).fit(regression_data())
    other = make(tmp_path, steps=10, units=2)
    with pytest.raises(CheckpointError, match="different model"):
        other.fit(regression_data(), resume=True)


def test_crash_during_a_save_leaves_the_last_good_checkpoint(tmp_path):
    trainer = make(tmp_path, steps=10, checkpoint_every=10)
    trainer.fit(regression_data())
    good = trainer.model.get_weights()

    class Exploding(tf.train.Checkpoint):
        def write(self, prefix):
            super().write(prefix)
            raise OSError("disk full")  # dies after writing the data, before meta.json

    checkpoints = CheckpointDir(tmp_path / "checkpoints")
    trainer.model.set_weights([np.zeros_like(w) for w in good])
    with pytest.raises(OSError):
        checkpoints.save(Exploding(model=trainer.model), 11, {"model": None})
    assert checkpoints.latest().name == "ckpt-00000010"
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]

    fresh = make(tmp_path, steps=10)
    fresh.fit(regression_data(), resume=True)  # nothing left to do: just restores
    for a, b in zip(fresh.model.get_weights(), good):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_saves_a_checkpoint_and_returns(tmp_path):
    calls = {"n": 0}

    def interrupting_loss(model, batch, training):
        return mse_loss(model, batch, training)

    trainer = make(tmp_path, steps=1000, checkpoint_every=1000)
    trainer.loss_fn = interrupting_loss
    original_step = trainer._train_step

    def step_then_interrupt(batch):
        calls["n"] += 1
        out = original_step(batch)
        if calls["n"] == 7:
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, delivered as KeyboardInterrupt
        return out

    trainer._train_step = step_then_interrupt
    history = trainer.fit(regression_data())
    assert history.interrupted
    assert CheckpointDir(tmp_path / "checkpoints").latest().name == "ckpt-00000007"


def test_bad_config_values_are_rejected():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        TrainConfig(steps=0)


def test_a_fresh_run_refuses_a_directory_with_checkpoints(tmp_path):
    make(tmp_path, steps=5).fit(regression_data())
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        make(tmp_path, steps=5).fit(regression_data())


def test_atomic_writes_leave_ordinary_file_permissions(tmp_path):
    import os

    from tfdl.checkpoints import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644


def test_history_clock_continues_across_a_resume(tmp_path):
    first = make(tmp_path, steps=10, checkpoint_every=10).fit(regression_data())
    resumed = make(tmp_path, steps=20).fit(regression_data(), resume=True)
    assert resumed.seconds[:10] == first.seconds
    assert all(b >= a for a, b in zip(resumed.seconds, resumed.seconds[1:]))
    assert resumed.seconds[10] >= first.seconds[-1]


def test_resume_with_skip_seen_false_starts_a_fresh_dataset_at_its_first_batch(tmp_path):
    # lr 0: the model never changes, so each step's loss identifies the batch it saw.
    make(tmp_path, steps=3, lr=0.0).fit(regression_data(seed=0))
    x = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    fresh = tf.data.Dataset.from_tensor_slices((x, x @ TRUE_W)).batch(32)  # 2 new batches
    trainer = make(tmp_path, steps=5, lr=0.0)
    history = trainer.fit(fresh, resume=True, skip_seen=False)
    batch_losses = [float(mse_loss(trainer.model, b, False)) for b in fresh]
    assert history.steps == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(history.losses[3:], batch_losses, rtol=1e-5)


@pytest.mark.parametrize("replicas", [1, 2])
def test_evaluate_averages_per_example_even_with_a_short_tail_batch(tmp_path, replicas):
    # 5 examples in batches of 4 and 1: the mean of batch means would weigh the lone
    # tail example 4 times too much; under 2 replicas the tail leaves one replica empty.
    x = np.arange(10, dtype="float32").reshape(5, 2)
    y = np.array([[0.0], [1.0], [5.0], [2.0], [40.0]], "float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"][:replicas])
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.0)

    def loss_fn(model, batch, training):
        features, targets = batch
        return keras.ops.mean(keras.ops.square(model(features) - targets))

    trainer = Trainer(model, optimizer, loss_fn, tmp_path, TrainConfig(steps=1), strategy=strategy)
    result = trainer.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    expected = np.mean((keras.ops.convert_to_numpy(model(x)) - y) ** 2)
    assert result["loss"] == pytest.approx(float(expected), rel=1e-5)


def test_a_time_budget_stops_training_in_time_with_a_final_evaluation_and_checkpoint(tmp_path):
    # A fake clock that only the loss moves: each call (a training step, or a validation
    # batch) takes 1/64 s of it (exact in binary), so the run is the same on any machine.
    # 10,000 steps would take 156 s; the budget is 1.5 s.
    tick = 2.0**-6
    now = [0.0]

    def slow_loss(model, batch, training):
        tf.py_function(lambda: now.__setitem__(0, now[0] + tick), [], [])
        return mse_loss(model, batch, training)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    cfg = TrainConfig(steps=10_000, eval_every=10_000, checkpoint_every=10_000, max_seconds=1.5)
    trainer = Trainer(
        model, keras.optimizers.Adam(0.05), slow_loss, tmp_path, cfg, progress=False,
        clock=lambda: now[0],
    )  # fmt: skip
    history = trainer.fit(regression_data(), val_data=regression_data())
    last = history.steps[-1]
    assert history.seconds == [tick * step for step in history.steps]
    # It stops when the time left no longer holds the slowest step (one tick): after step
    # 95 one tick is left, after step 96 (1.5 s) none.
    assert last == 96 and history.seconds[-1] == 1.5
    assert history.val_steps == [last]  # the final evaluation, at the step it stopped
    assert CheckpointDir(tmp_path / "checkpoints").latest().name == f"ckpt-{last:08d}"


def test_checkpoints_hold_no_history_the_history_file_is_appended_once_per_save(tmp_path):
    make(tmp_path, steps=30, checkpoint_every=10).fit(regression_data())
    checkpoints = tmp_path / "checkpoints"
    sizes = [(p / "meta.json").stat().st_size for p in sorted(checkpoints.glob("ckpt-*"))]
    assert len(set(sizes)) == 1  # a save at step 30 writes no more than one at step 10
    assert "history" not in json.loads((checkpoints / "ckpt-00000030" / "meta.json").read_text())
    lines = [json.loads(line) for line in (checkpoints / "history.jsonl").read_text().splitlines()]
    assert [(part["after"], part["steps"]) for part in lines] == [
        (0, list(range(1, 11))),
        (10, list(range(11, 21))),
        (20, list(range(21, 31))),
    ]


def test_resume_reads_the_history_back_up_to_the_restored_step(tmp_path):
    from tfdl.training import read_history

    straight = make(tmp_path / "a", steps=30).fit(regression_data())
    make(tmp_path, steps=10, checkpoint_every=10).fit(regression_data())
    history_file = tmp_path / "checkpoints" / "history.jsonl"
    # A crash after the history of steps 11-20 was appended, before their checkpoint
    # was complete, in the middle of a line being written.
    lost = {"after": 10, "steps": list(range(11, 21)), "losses": [99.0] * 10}
    with open(history_file, "a") as f:
        f.write(json.dumps({**lost, "seconds": [0.0] * 10}) + "\n" + '{"after": 20, "st')
    resumed = make(tmp_path, steps=30, checkpoint_every=10).fit(regression_data(), resume=True)
    assert resumed.steps == list(range(1, 31))
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-5)
    # the file, read again, holds the resumed run's steps 11-20, not the lost ones
    again = read_history(history_file, 30)
    assert again.steps == list(range(1, 31)) and again.losses == resumed.losses


def test_latest_is_the_newest_complete_checkpoint_and_never_moves_back(tmp_path):
    trainer = make(tmp_path, steps=20, checkpoint_every=10)
    trainer.fit(regression_data())
    checkpoints = CheckpointDir(tmp_path / "checkpoints")
    pointer = tmp_path / "checkpoints" / "latest"
    # A crash between the rename of ckpt-20 into place and the pointer's update.
    pointer.write_text("ckpt-00000010\n")
    assert checkpoints.latest().name == "ckpt-00000020"
    # Saving an older step keeps the pointer on the newest checkpoint.
    checkpoints.save(tf.train.Checkpoint(model=trainer.model), 15, {"model": None})
    assert pointer.read_text().strip() == "ckpt-00000020"
    assert checkpoints.latest().name == "ckpt-00000020"


def test_a_dataset_function_starts_at_the_resumed_step_without_replaying(tmp_path):
    starts = []

    def data(start):  # batch n is a pure function of n: here, the rows from n
        starts.append(start)
        x = np.random.default_rng(0).normal(size=(256, 3)).astype("float32")
        batches = tf.data.Dataset.from_tensor_slices((x, x @ TRUE_W)).batch(32).repeat()
        return batches.skip(start)  # (a real stream computes batch n directly)

    straight = make(tmp_path / "a", steps=12).fit(data)
    make(tmp_path / "b", steps=5, checkpoint_every=5).fit(data)
    resumed = make(tmp_path / "b", steps=12).fit(data, resume=True)
    assert starts == [0, 0, 5]
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-5)


def test_keep_best_ends_with_the_weights_of_the_best_validation_loss(tmp_path):
    # Training goes from w = 0 to TRUE_W; validation wants half of it, so its loss falls
    # until halfway and rises after: the best weights are the midway ones.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32")
    val = tf.data.Dataset.from_tensor_slices((x, x @ (TRUE_W / 2))).batch(64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros", use_bias=False)]
    )
    cfg = TrainConfig(steps=200, eval_every=10, checkpoint_every=200, keep_best=True)
    trainer = Trainer(model, keras.optimizers.Adam(0.02), mse_loss, tmp_path, cfg, progress=False)
    history = trainer.fit(
        tf.data.Dataset.from_tensor_slices((x, x @ TRUE_W)).batch(32), val_data=val
    )
    best = int(np.argmin(history.val_losses))
    assert 0 < best < len(history.val_losses) - 1  # fell, then rose
    assert history.best_step == history.val_steps[best]
    assert trainer.evaluate(val)["loss"] == pytest.approx(history.val_losses[best], rel=1e-5)


@pytest.mark.parametrize("replicas", [1, 2])
def test_train_step_takes_the_step_fit_takes(replicas, tmp_path):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if replicas == 2 else None
    fitted = make(tmp_path / "fit", steps=1, strategy=strategy, checkpoint_every=1)
    history = fitted.fit(regression_data())
    stepped = make(tmp_path / "step", steps=1, strategy=strategy)
    values = stepped.train_step(next(iter(regression_data())))  # fit's first batch
    assert values["loss"] == pytest.approx(history.losses[0], rel=1e-6)
    for a, b in zip(fitted.model.get_weights(), stepped.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert int(stepped.step.numpy()) == 1


@keras.saving.register_keras_serializable(package="tfdl_tests")
class ListedLayers(keras.Model):
    """Layers kept in a Python list, one with non-trainable statistics (batch norm)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [keras.layers.Dense(4), keras.layers.BatchNormalization(momentum=0.5)]
        self.out = keras.layers.Dense(1)

    def call(self, x, training=False):
        for block in self.blocks:
            x = block(x, training=training)
        return self.out(x)


def test_a_resume_restores_every_weight_of_layers_kept_in_a_list(tmp_path):
    def listed():
        keras.utils.set_random_seed(0)
        model = ListedLayers()
        model(np.zeros((2, 3), "float32"))
        cfg = TrainConfig(steps=5, checkpoint_every=5)
        return Trainer(model, keras.optimizers.Adam(0.05), mse_loss, tmp_path, cfg, progress=False)

    trained = listed()
    trained.fit(regression_data())
    saved = [w.numpy() for w in trained.model.weights]
    moving = trained.model.blocks[1].moving_mean.numpy()
    assert not np.allclose(moving, 0)  # training moved the batch-norm statistics
    resumed = listed()  # fresh weights, then the checkpoint
    resumed.fit(regression_data(), resume=True)  # nothing left to train: restore only
    for a, b in zip(saved, resumed.model.weights):
        np.testing.assert_array_equal(a, b.numpy())
