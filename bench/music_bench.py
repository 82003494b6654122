"""Lab-1 music RNN vs tfdl, at the lab's model size, in one run; prints one JSON line.

    python bench/music_bench.py [--train-steps 20] [--lab-chars 200] [--length 1000]
    python bench/music_bench.py --modes-only [--model DIR]   # form, metrical, free only

Training: the lab feeds numpy random batches (get_batch) into a @tf.function step;
tfdl runs the shared Trainer on its tf.data window pipeline. Generation: the lab
calls a batch-1 stateful model eagerly once per character; tfdl runs its compiled
sampling loop for 1 song and for 64 songs at once. Rates are characters per second.

Sampling modes: the form-keeping sampler (the default) and the metrical one (``--form
free``) against the unconstrained one (``--free``), on a trained model (the shipped one
unless ``--model``), for 1 song and for 64, same seeds, in the same run: characters of
finished songs per second, and each constrained mode's ratio to the free one.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfdl.models import MusicRNN  # noqa: E402
from tfdl.music import abc  # noqa: E402
from tfdl.music.dataset import join_tunes, random_windows  # noqa: E402
from tfdl.music.generate import SongSampler  # noqa: E402
from tfdl.music.train import music_loss  # noqa: E402
from tfdl.music.vocab import Vocabulary  # noqa: E402
from tfdl.training import TrainConfig, Trainer  # noqa: E402

BATCH, SEQ, EMB, UNITS, LR = 8, 100, 256, 1024, 5e-3  # the lab's settings


def lab_model(vocab_size, batch_size):
    return keras.Sequential(
        [
            keras.Input(batch_shape=(batch_size, None), dtype="int32"),
            keras.layers.Embedding(vocab_size, EMB),
            keras.layers.LSTM(
                UNITS,
                return_sequences=True,
                stateful=batch_size == 1,
                recurrent_initializer="glorot_uniform",
            ),
            keras.layers.Dense(vocab_size),
        ]
    )


def lab_training(ids, vocab_size, steps):
    model = lab_model(vocab_size, None)
    optimizer = keras.optimizers.Adam(LR)

    def get_batch():  # the lab's get_batch: numpy random offsets
        idx = np.random.choice(len(ids) - SEQ - 1, BATCH)
        x = np.array([ids[i : i + SEQ] for i in idx])
        y = np.array([ids[i + 1 : i + SEQ + 1] for i in idx])
        return x, y

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            y_hat = model(x)
            loss = keras.losses.sparse_categorical_crossentropy(y, y_hat, from_logits=True)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    train_step(*get_batch())  # trace and build outside the timing
    started = time.perf_counter()
    for _ in range(steps):
        float(tf.reduce_mean(train_step(*get_batch())))
    return steps * BATCH * SEQ / (time.perf_counter() - started)


def tfdl_training(ids, vocab_size, steps, warmup=3):
    model = MusicRNN(vocab_size, EMB, UNITS)
    model.build((None, None))
    optimizer = keras.optimizers.Adam(LR)
    data = random_windows(ids, SEQ, BATCH, seed=0)
    config = TrainConfig(steps=warmup + steps, checkpoint_every=10**9)
    with tempfile.TemporaryDirectory() as out:
        history = Trainer(model, optimizer, music_loss, out, config, progress=False).fit(data)
    # time from the end of the warm-up steps (tracing, building) to the last step
    return steps * BATCH * SEQ / (history.seconds[-1] - history.seconds[warmup - 1])


def lab_generation(vocab, chars):
    model = lab_model(len(vocab), 1)
    input_eval = tf.expand_dims(vocab.encode("X"), 0)
    model(input_eval)  # build outside the timing
    started = time.perf_counter()
    for _ in range(chars):  # the lab's generate_text loop
        predictions = tf.squeeze(model(input_eval), 0)
        predicted_id = tf.random.categorical(predictions, num_samples=1)[-1, 0].numpy()
        input_eval = tf.expand_dims([predicted_id], 0)
    return chars / (time.perf_counter() - started)


def tfdl_generation(vocab, songs, length, jit_compile):
    keras.utils.set_random_seed(0)
    model = MusicRNN(len(vocab), EMB, UNITS)
    model.build((None, None))
    sampler = SongSampler(model, vocab, jit_compile=jit_compile)
    sampler.sample(songs, length=8, prime="X")  # trace (and compile) outside the timing
    started = time.perf_counter()
    out = sampler.sample(songs, length=length, prime="X")
    seconds = time.perf_counter() - started
    return sum(len(s) - 1 for s in out) / seconds  # characters generated, prime excluded


def recurrent_limit(units, vocab_size, songs, steps=2000):
    """Characters per second a bare fp32 LSTM loop of ``units`` allows here for ``songs``
    rows: per step one table row (the input's share) plus ``h`` times the recurrent
    kernel, the gates, and the output layer; no sampling, no lookback, no host work.
    The ceiling any sampler of a model this size can reach on this machine."""
    rng = np.random.default_rng(0)
    table = tf.constant(rng.normal(size=(vocab_size, 4 * units)), tf.float32)
    kernel = tf.constant(rng.normal(size=(units, 4 * units)) / units**0.5, tf.float32)
    dense = tf.constant(rng.normal(size=(units, vocab_size)) / units**0.5, tf.float32)

    @tf.function
    def loop(h, c):
        def body(i, h, c, ids):
            z = tf.gather(table, ids) + h @ kernel
            g_i, g_f, g_c, g_o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(g_f) * c + tf.sigmoid(g_i) * tf.tanh(g_c)
            h = tf.sigmoid(g_o) * tf.tanh(c)
            ids = tf.argmax(h @ dense, axis=-1, output_type=tf.int32)
            return i + 1, h, c, ids

        ids = tf.zeros([songs], tf.int32)
        return tf.while_loop(lambda i, *_: i < steps, body, (0, h, c, ids))[1]

    zeros = tf.zeros([songs, units])
    loop(zeros, zeros)  # trace
    started = time.perf_counter()
    loop(zeros, zeros).numpy()
    return songs * steps / (time.perf_counter() - started)


def sampling_modes(model_dir, length, batch_length, seeds=10):
    """Characters per second of finished songs in the three modes (form, the default;
    metrical, ``--form free``; free), for 1 and 64 songs, and as a fraction of the
    bare recurrent loop's rate (`recurrent_limit`) measured in the same run."""
    from tfdl.music.saved import load_music_model, pretrained_dir

    model, vocab, _ = load_music_model(model_dir or pretrained_dir())
    sampler = SongSampler(model, vocab)
    modes = {"free": {"metrical": False}, "metrical": {"form": "free"}, "form": {}}
    result = {}
    for songs, chars in ((1, length), (64, batch_length)):
        for mode in modes.values():
            sampler.sample(songs, length=20, seed=99, **mode)  # trace first
        for name, mode in modes.items():
            made, started = 0, time.perf_counter()
            for seed in range(seeds):
                out = sampler.sample(songs, length=chars, seed=seed, **mode)
                made += sum(len(s) - len("X:1\n") for s in out)
            result[f"{name}_{songs}_song_chars_per_s"] = made / (time.perf_counter() - started)
        free = result[f"free_{songs}_song_chars_per_s"]
        for name in ("metrical", "form"):
            result[f"{name}_{songs}_song_ratio"] = result[f"{name}_{songs}_song_chars_per_s"] / free
        limit = recurrent_limit(model.rnn_units, len(vocab), songs)
        result[f"limit_{songs}_song_chars_per_s"] = limit
        for name in modes:
            result[f"{name}_{songs}_song_of_limit"] = (
                result[f"{name}_{songs}_song_chars_per_s"] / limit
            )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--lab-chars", type=int, default=200)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--batch-length", type=int, default=300)
    parser.add_argument("--model", help="trained model for the sampling modes (default: shipped)")
    parser.add_argument("--modes-only", action="store_true", help="only the sampling modes")
    args = parser.parse_args()
    modes = sampling_modes(args.model, args.length, args.batch_length)
    if args.modes_only:
        print(json.dumps({k: round(v, 2) for k, v in modes.items()}))
        return

    tunes = abc.load_corpus()
    vocab = Vocabulary.from_text(join_tunes(tunes))
    ids = vocab.encode(join_tunes(tunes))
    result = {"vocab_size": len(vocab), "cpu_threads": os.cpu_count()}
    result["lab_train_chars_per_s"] = lab_training(ids, len(vocab), args.train_steps)
    result["tfdl_train_chars_per_s"] = tfdl_training(ids, len(vocab), args.train_steps)
    result["lab_generate_chars_per_s"] = lab_generation(vocab, args.lab_chars)
    result["tfdl_generate_1_song_chars_per_s"] = tfdl_generation(vocab, 1, args.length, False)
    result["tfdl_generate_64_songs_chars_per_s"] = tfdl_generation(
        vocab, 64, args.batch_length, False
    )
    result["tfdl_xla_generate_1_song_chars_per_s"] = tfdl_generation(vocab, 1, args.length, True)
    result["tfdl_xla_generate_64_songs_chars_per_s"] = tfdl_generation(
        vocab, 64, args.batch_length, True
    )
    lab = result["lab_generate_chars_per_s"]
    result["train_ratio"] = result["tfdl_train_chars_per_s"] / result["lab_train_chars_per_s"]
    result["generate_1_song_ratio"] = result["tfdl_generate_1_song_chars_per_s"] / lab
    result["generate_64_songs_ratio"] = result["tfdl_generate_64_songs_chars_per_s"] / lab
    result["xla_generate_1_song_ratio"] = result["tfdl_xla_generate_1_song_chars_per_s"] / lab
    result["xla_generate_64_songs_ratio"] = result["tfdl_xla_generate_64_songs_chars_per_s"] / lab
    result.update(modes)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
