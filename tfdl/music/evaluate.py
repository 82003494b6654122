"""How well a music model predicts a set of tunes, in nats and bits per character."""

import math

import keras
import numpy as np
import tensorflow as tf

from tfdl.errors import UserError
from tfdl.music.dataset import TUNE_SEPARATOR

# Characters of each tune scored per model call. A batch's logits are (batch, WINDOW,
# vocab): 6 MB at 32 tunes and ~90 characters, whatever the length of the tunes. The
# LSTM state is carried from one window to the next, so a tune scores the same in
# windows as whole (tests/test_music_data.py).
WINDOW = 512


def _windows(encoded, batch_size, window):
    """The batches of windows that score ``encoded`` (a list of id arrays), in order.

    Tunes are sorted by length and taken ``batch_size`` at a time; each batch is read
    in windows of ``window`` predictions, and a tune leaves the batch once its last
    character is predicted (the batch shrinks instead of being padded to its longest
    tune). Yields ``(ids, mask, first, drop)``: ``ids`` (rows, window + 1), the inputs
    and the next characters to predict; ``mask`` (rows, window) 1 where a prediction
    counts; ``first`` True for a batch's first window (no state yet); ``drop``, the rows
    of the previous window's state that left (its first ``drop`` rows).
    """
    order = np.argsort([len(e) for e in encoded], kind="stable")  # similar lengths together
    for start in range(0, len(order), batch_size):
        group = [encoded[i] for i in order[start : start + batch_size]]  # shortest first
        predictions = [len(e) - 1 for e in group]  # character 2 onwards
        gone = 0
        for offset in range(0, max(predictions), window):
            left = next(r for r, n in enumerate(predictions) if n > offset)
            rows = group[left:]
            ids = np.zeros((len(rows), window + 1), np.int32)
            mask = np.zeros((len(rows), window), np.float32)
            for row, e in enumerate(rows):
                piece = e[offset : offset + window + 1]
                ids[row, : len(piece)] = piece
                mask[row, : len(piece) - 1] = 1.0
            yield ids, mask, offset == 0, left - gone
            gone = left


def evaluate_tunes(model, vocab, tunes, batch_size=32, window=WINDOW):
    """Mean cross-entropy of predicting every character of every tune from its prefix.

    Each tune is scored as it appears in training (followed by a blank line), from
    a zero state, character 2 onwards. Tunes are batched by length and read in
    windows of ``window`` characters, the LSTM state carried from each window to the
    next: memory does not grow with the longest tune, and the loss is the one of
    reading each tune whole. Padding at the end of a shorter tune is masked out of
    the sum (the LSTM runs left to right, so it never changes the predictions before
    it).

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
    def window_nats(ids, mask, state):  # ids: (rows, window + 1), mask: (rows, window)
        logits, state = model(ids[:, :-1], initial_state=state, return_state=True)
        nats = keras.losses.sparse_categorical_crossentropy(ids[:, 1:], logits, from_logits=True)
        return tf.reduce_sum(nats * mask), state  # logits: (rows, window, vocab)

    total, chars, state = 0.0, 0, None
    for ids, mask, first, drop in _windows(encoded, batch_size, window):
        if first:
            state = None  # a zero state, as Keras starts an LSTM
        elif drop:
            state = [s[drop:] for s in state]  # (rows, units) each
        nats, state = window_nats(tf.constant(ids), tf.constant(mask), state)
        total += float(nats)
        chars += int(mask.sum())
    loss = total / chars
    return {
        "loss": loss,
        "bits_per_char": loss / math.log(2),
        "chars": chars,
        "tunes": len(encoded),
        "skipped_tunes": skipped,
    }
