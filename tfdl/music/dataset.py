"""tf.data pipelines over one long string of tunes, as the lab's get_batch builds them.

Tunes are joined with a blank line after each, so the model learns where a tune ends.
"""

import numpy as np
import tensorflow as tf

from tfdl.errors import UserError

TUNE_SEPARATOR = "\n\n"


def join_tunes(tunes):
    """The training text: every tune followed by a blank line."""
    return "".join(t.rstrip("\n") + TUNE_SEPARATOR for t in tunes)


def _split_input_target(windows, side=None):
    # windows: (batch, seq_length + 1) -> input chars[i:i+L], target chars[i+1:i+L+1];
    # side: (batch, seq_length + 1, k), what goes in beside each input char
    if side is None:
        return windows[:, :-1], windows[:, 1:]
    return (windows[:, :-1], side[:, :-1]), windows[:, 1:]


def random_windows(ids, seq_length, batch_size, seed=0, start=0, side=None):
    """An endless dataset of ``(inputs, targets)`` batches at random offsets.

    Each batch is ``(batch_size, seq_length)`` int32 twice. With ``side`` (an array
    ``(len(ids), k)``: a row per character, e.g. `LookbackRNN`'s offers read over the
    whole text) the inputs are ``(chars, side rows)``, cut at the same offsets.

    Batch ``n`` (from 0) is a pure function of ``(seed, n)``: its offsets are
    stateless random numbers keyed by both, whatever the process's global seeds and
    whatever ran before. ``start`` makes the stream begin at batch ``start``, so a run
    resumed after ``start`` steps sees exactly the batches an uninterrupted run would,
    without replaying any.
    """
    ids = np.asarray(ids, dtype=np.int32)
    span = len(ids) - seq_length - 1
    if span < 1:
        raise UserError(f"the text has {len(ids)} characters, too few for windows of {seq_length}")
    text = tf.constant(ids)
    side = None if side is None else tf.constant(side)
    offsets = tf.range(seq_length + 1)

    def batch(n):  # n: the batch's number, an int64 scalar
        key = tf.stack([tf.constant(seed, tf.int64), n])
        starts = tf.random.stateless_uniform(
            [batch_size], seed=key, minval=0, maxval=span, dtype=tf.int32, alg="philox"
        )  # (batch,)
        at = starts[:, None] + offsets[None, :]  # (batch, seq_length + 1)
        return _split_input_target(
            tf.gather(text, at), None if side is None else tf.gather(side, at)
        )

    return (
        tf.data.Dataset.counter(start)
        .map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def fixed_windows(ids, seq_length, batch_size, side=None):
    """Consecutive, non-overlapping windows over the text: a stable validation set.

    The same text always gives the same batches, so validation losses compare across runs.
    ``side`` as in `random_windows`.
    """
    ids = np.asarray(ids, dtype=np.int32)
    n_windows = (len(ids) - 1) // seq_length
    if n_windows < 1:
        raise UserError(f"the text has {len(ids)} characters, too few for one window")
    starts = np.arange(n_windows) * seq_length
    at = starts[:, None] + np.arange(seq_length + 1)[None, :]
    windows = ids[at]  # (n, L + 1)
    slices = windows if side is None else (windows, np.asarray(side)[at])
    # Equal-sized batches (a few tail windows dropped) so every replica gets its share.
    return (
        tf.data.Dataset.from_tensor_slices(slices)
        .batch(min(batch_size, n_windows), drop_remainder=True)
        .map(_split_input_target)
        .prefetch(tf.data.AUTOTUNE)
    )
