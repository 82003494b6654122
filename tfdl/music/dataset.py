"""tf.data pipelines over one long string of tunes, as the lab's get_batch builds them.

Tunes are joined with a blank line after each, so the model learns where a tune ends.
"""

import numpy as np
import tensorflow as tf

TUNE_SEPARATOR = "\n\n"


def join_tunes(tunes):
    """The training text: every tune followed by a blank line."""
    return "".join(t.rstrip("\n") + TUNE_SEPARATOR for t in tunes)


def _split_input_target(windows):
    # windows: (batch, seq_length + 1) -> input chars[i:i+L], target chars[i+1:i+L+1]
    return windows[:, :-1], windows[:, 1:]


def random_windows(ids, seq_length, batch_size, seed=0):
    """An endless dataset of ``(inputs, targets)`` batches at random offsets.

    Each batch is ``(batch_size, seq_length)`` int32 twice. Offsets come from a seeded
    ``tf.data`` random stream, so the same seed gives the same batches in the same order
    (which lets the trainer resume mid-stream by skipping the batches already seen).
    """
    ids = np.asarray(ids, dtype=np.int32)
    span = len(ids) - seq_length - 1
    if span < 1:
        raise ValueError(f"the text has {len(ids)} characters, too few for windows of {seq_length}")
    text = tf.constant(ids)
    offsets = tf.range(seq_length + 1)

    def windows(starts):  # starts: (batch,)
        return _split_input_target(tf.gather(text, starts[:, None] + offsets[None, :]))

    return (
        tf.data.Dataset.random(seed=seed)
        .map(lambda r: tf.cast(r % span, tf.int32))
        .batch(batch_size, drop_remainder=True)
        .map(windows, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def fixed_windows(ids, seq_length, batch_size):
    """Consecutive, non-overlapping windows over the text: a stable validation set.

    The same text always gives the same batches, so validation losses compare across runs.
    """
    ids = np.asarray(ids, dtype=np.int32)
    n_windows = (len(ids) - 1) // seq_length
    if n_windows < 1:
        raise ValueError(f"the text has {len(ids)} characters, too few for one window")
    starts = np.arange(n_windows) * seq_length
    windows = ids[starts[:, None] + np.arange(seq_length + 1)[None, :]]  # (n, L + 1)
    # Equal-sized batches (a few tail windows dropped) so every replica gets its share.
    return (
        tf.data.Dataset.from_tensor_slices(windows)
        .batch(min(batch_size, n_windows), drop_remainder=True)
        .map(_split_input_target)
        .prefetch(tf.data.AUTOTUNE)
    )
