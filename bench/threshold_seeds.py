"""The suite's thresholds on trained models, measured over seeds: how much room each has.

    python bench/threshold_seeds.py [--seeds 0 1 2]

Each block trains what one test trains, with the seed varied, and prints the measured
value beside the test's threshold, so a threshold within a few points of a seed's
result shows up. The colour-photo face test has its own script, bench/face_seeds.py.
"""

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import TINY_MUSIC  # noqa: E402  (the tests' own tiny model)

from tfdl.cli import main as tfdl_main  # noqa: E402
from tfdl.digits import data as digits_data  # noqa: E402
from tfdl.digits.train import digits_loss  # noqa: E402
from tfdl.models import DigitDense  # noqa: E402
from tfdl.music import abc  # noqa: E402
from tfdl.training import TrainConfig, Trainer  # noqa: E402


def music(seed, tmp):
    """tests/test_cli.py: the tiny model's val loss and evaluate loss (40 corpus tunes)."""
    tunes = tmp / "tunes.abc"
    tunes.write_text("\n\n".join(abc.load_corpus()[:40]) + "\n")
    out = tmp / f"run{seed}"
    argv = ["music", "train", "--data", str(tunes), "--out", str(out), "--tracking", "off"]
    assert tfdl_main([*argv, *TINY_MUSIC, "--seed", str(seed)]) == 0
    settings = json.loads((out / "settings.json").read_text())
    history = json.loads((out / "history.json").read_text())
    printed = io.StringIO()  # what `tfdl music evaluate` prints: one JSON line
    with contextlib.redirect_stdout(printed):
        assert tfdl_main(["music", "evaluate", "--model", str(out), "--data", str(tunes)]) == 0
    result = json.loads(printed.getvalue().strip().splitlines()[-1])
    return {
        "first loss - val_loss (test: > 0.5)": history["losses"][0] - settings["val_loss"],
        "ln(vocab) - evaluate loss (test: > 0.5)": math.log(settings["vocab_size"])
        - result["loss"],
    }


def digits(seed, tmp):
    """tests/test_digits.py::test_fit_and_the_trainer_both_reduce_the_loss."""
    sample = digits_data.load_digits()
    x, y = sample.train_images[:256], sample.train_labels[:256]
    batch = (sample.test_images[:200], sample.test_labels[:200])
    keras.utils.set_random_seed(seed)
    fitted = DigitDense(hidden_units=32)
    fitted.build((None, 28, 28, 1))
    before = float(digits_loss(fitted, batch, False)[0])
    fitted.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    fitted.fit(x, y, batch_size=32, epochs=3, verbose=0)
    fit_ratio = float(digits_loss(fitted, batch, False)[0]) / before
    keras.utils.set_random_seed(seed)
    taped = DigitDense(hidden_units=32)
    taped.build((None, 28, 28, 1))
    before = float(digits_loss(taped, batch, False)[0])
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256, seed=seed).batch(32)
    config = TrainConfig(steps=24, eval_every=24, checkpoint_every=24)
    Trainer(taped, keras.optimizers.Adam(3e-3), digits_loss, tmp / f"d{seed}", config,
            progress=False).fit(data)  # fmt: skip
    tape_ratio = float(digits_loss(taped, batch, False)[0]) / before
    return {"fit loss after/before (test: < 0.6)": fit_ratio,
            "trainer loss after/before (test: < 0.6)": tape_ratio}  # fmt: skip


def regression(seed, tmp):
    """tests/test_training.py (float32, 200 steps) and tests/test_precision.py (mixed)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)

    def mse(model, batch, training):
        features, targets = batch
        return keras.ops.mean((keras.ops.cast(model(features), "float32") - targets) ** 2)

    out = {}
    for policy, steps in (("float32", 200), ("mixed_float16", 80)):
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            config = TrainConfig(steps=steps, checkpoint_every=steps)
            optimizer = keras.optimizers.Adam(0.05)
            run_dir = tmp / f"{policy}{seed}"
            trainer = Trainer(model, optimizer, mse, run_dir, config, progress=False)
            history = trainer.fit(data.repeat())
        finally:
            keras.mixed_precision.set_dtype_policy(previous)
        if policy == "float32":
            out["float32 last loss, 200 steps (training test: < 1e-3)"] = history.losses[-1]
        else:
            out["mixed last/first loss, 80 steps (precision test: < 0.1)"] = (
                history.losses[-1] / history.losses[0]
            )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for block in (music, digits, regression):
                for name, value in block(seed, Path(tmp)).items():
                    rows.setdefault(name, []).append(round(float(value), 4))
                    print(json.dumps({"seed": seed, name: round(float(value), 4)}), flush=True)
    for name, values in rows.items():
        print(f"{name}: {values}")


if __name__ == "__main__":
    main()
