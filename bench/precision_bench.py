"""Music training speed in float32 and in mixed precision, in one run; prints one JSON line.

    python bench/precision_bench.py [--steps 30] [--rounds 3] [--rnn-units 1024]

The lab's model (Embedding 256 -> LSTM 1024, batches of 8 x 100 characters) trains
with the shared Trainer under ``tfdl.training.precision("float32")`` and
``precision("mixed")`` (bfloat16 on a CPU, float16 on a GPU), the two alternating for
``--rounds`` rounds so that a machine that gets busier or quieter meanwhile weighs on
both alike. The first steps of each fit (tracing, warm-up) are not timed. Rates are
training characters (batch x sequence length) per second: the best round and the
median.
"""

import argparse
import json
import os
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfdl.music import abc  # noqa: E402
from tfdl.music.dataset import join_tunes, random_windows  # noqa: E402
from tfdl.music.model import MusicRNN  # noqa: E402
from tfdl.music.train import music_loss  # noqa: E402
from tfdl.music.vocab import Vocabulary  # noqa: E402
from tfdl.training import TrainConfig, Trainer, precision  # noqa: E402

BATCH, SEQ, EMB, LR = 8, 100, 256, 5e-3  # the lab's settings
WARM_UP = 3  # steps of each fit left out of the timing


def chars_per_second(ids, vocab_size, name, units, steps):
    """``(policy, characters per second)`` of ``steps`` timed training steps."""
    with precision(name) as policy, tempfile.TemporaryDirectory() as out:
        keras.utils.set_random_seed(0)
        model = MusicRNN(vocab_size, EMB, units)
        model.build((None, None))
        config = TrainConfig(steps=WARM_UP + steps, checkpoint_every=10**9)
        trainer = Trainer(model, keras.optimizers.Adam(LR), music_loss, out, config, progress=False)
        history = trainer.fit(lambda start: random_windows(ids, SEQ, BATCH, seed=0, start=start))
        seconds = history.seconds[-1] - history.seconds[WARM_UP - 1]
    return policy, BATCH * SEQ * steps / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rnn-units", type=int, default=1024)
    args = parser.parse_args()
    text = join_tunes(abc.load_corpus())
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    rates = {}
    for _ in range(args.rounds):
        for name in ("float32", "mixed"):
            policy, rate = chars_per_second(ids, len(vocab), name, args.rnn_units, args.steps)
            rates.setdefault(policy, []).append(rate)
    result = {
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
        "rnn_units": args.rnn_units,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        **{
            policy: {"best": round(max(r)), "median": round(statistics.median(r))}
            for policy, r in rates.items()
        },
    }
    float32, mixed = (result[p]["median"] for p in rates)
    result["mixed_over_float32"] = round(mixed / float32, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
