"""How well a music model predicts a set of tunes, in nats and bits per character."""

import math

import keras
import numpy as np
import tensorflow as tf

from tfdl.errors import UserError
from tfdl.music.dataset import TUNE_SEPARATOR


def evaluate_tunes(model, vocab, tunes, batch_size=32):
    """Mean cross-entropy of predicting every character of every tune from its prefix.

    Each tune is scored as it appears in training (followed by a blank line), from
    a zero state, character 2 onwards. Tunes are batched by length and padded;
    padding is masked out of the sum (the LSTM runs left to right, so padding on
    the right never changes the predictions before it).

    A tune with a character the model never saw cannot be scored: it is skipped
    (held-out data from another source always has a few), and ValueError is raised
    only when no tune is left.

    Returns ``{"loss": nats/char, "bits_per_char", "chars": predicted characters,
    "tunes": tunes scored, "skipped_tunes": [{"tune": its number from 1, "reason"}]}``.
    """
    if not tunes:
        raise UserError("no tunes to evaluate")
    encoded, skipped = [], []
    for n, tune in enumerate(tunes, 1):
        try:
            encoded.append(vocab.encode(tune.rstrip("\n") + TUNE_SEPARATOR))
        except ValueError as e:
            skipped.append({"tune": n, "reason": str(e)})
    if not encoded:
        first = skipped[0]
        raise UserError(
            f"none of the {len(tunes)} tunes can be scored: tune {first['tune']} has "
            f"{first['reason']}, and every other tune has characters the model never saw too"
        )

    @tf.function(reduce_retracing=True)
    def batch_nats(ids, mask):  # ids, mask: (batch, time)
        logits = model(ids[:, :-1])  # (batch, time - 1, vocab)
        nats = keras.losses.sparse_categorical_crossentropy(ids[:, 1:], logits, from_logits=True)
        return tf.reduce_sum(nats * mask[:, 1:])

    order = np.argsort([len(e) for e in encoded])  # similar lengths together: less padding
    total, chars = 0.0, 0
    for start in range(0, len(order), batch_size):
        group = [encoded[i] for i in order[start : start + batch_size]]
        width = max(len(e) for e in group)
        ids = np.zeros((len(group), width), np.int32)
        mask = np.zeros((len(group), width), np.float32)
        for row, e in enumerate(group):
            ids[row, : len(e)] = e
            mask[row, : len(e)] = 1.0
        total += float(batch_nats(tf.constant(ids), tf.constant(mask)))
        chars += int(mask[:, 1:].sum())
    loss = total / chars
    return {
        "loss": loss,
        "bits_per_char": loss / math.log(2),
        "chars": chars,
        "tunes": len(encoded),
        "skipped_tunes": skipped,
    }
