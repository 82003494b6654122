"""A music model that can look back: the bars before the one it is writing, as input.

Real dance tunes restate their phrases: about half their bars recur in the same tune,
mostly four bars on (bars 5-6 of a part restate bars 1-2, then answer them with
another cadence). A character LSTM has to carry a whole bar in its state to repeat
it, and seldom does. Magenta's Lookback RNN gives the model, beside the current
event, what came at the same position one and two bars ago; repeating a bar then
takes no memory. In the shipped corpus a bar equals the bar 1 back in 0.5 % of bars,
2 back in 3.8 %, 4 back in 10.4 % (12 bars back or less: 21 %), so `LookbackRNN`
offers two things for each next character:

- **the phrase offer:** the character at the same position ``phrase_bars`` (4) bars
  back, where a restatement starts;
- **the match offer:** the next character of the latest of the last ``bars`` (8)
  bars that began as the bar being written has so far (the whole prefix, at least
  one character): once a bar has started to restate an earlier one, at any distance,
  the offer follows it to the end, and a variation drops it.

`BarLookback` reads the characters as they go and keeps the bars by position: a bar
line ``|`` closes a bar that has anything in it (``||`` closes one); a line break
starts the bar's text again; the bar-line run ``:`` ``[1`` and spaces at a bar's
start hold no position, so ``|:ABc`` and ``|ABc`` align; a blank line (the end of a
tune) forgets every bar. Beside each offer it says whether the character just read
was the one offered. `LookbackRNN` embeds both offers beside the character and feeds
all of it to the same LSTM as `MusicRNN`. Its state is `MusicRNN`'s ``[h, c]`` plus
the lookback's (an int32 row per song), so the samplers carry it as they carry ``h``
and ``c``.

Why offers and not attention over past states: an offer is exact (the character
itself), cheap (no weights, a few comparisons per step) and keeps the model an LSTM
that runs on cuDNN; the sampler needs only the state to grow.

One implementation of the reading serves training and generation: `BarLookback.step`
advances one character; over a training window it runs under ``tf.scan``.
"""

import keras
import tensorflow as tf
from keras import ops

from tfdl.music.model import MusicRNN

# Characters of a bar the lookback keeps: a bar's 33rd character has no offer. Bars
# of the corpus are 5 to 25 characters long.
BAR_CHARS = 32
# Bars kept for the match offer: a part of 8 bars, so a tune's second half can follow
# its first.
BARS = 8
# The phrase offer's distance: where restatements mostly start (see the docstring).
PHRASE_BARS = 4
# Characters that hold no position at a bar's start: repeat marks, ending numbers,
# spaces, and "[" of "[1" (also of a chord "[DA]", consistently in every bar).
SKIP_CHARS = ": []123"


@keras.saving.register_keras_serializable(package="tfdl")
class BarLookback(keras.layers.Layer):
    """Offers, for each next character, the phrase offer and the match offer.

    No weights: a deterministic reading of the character ids (see the module
    docstring). The state is one int32 row per sequence, ``(bars + 1) * bar_chars +
    5`` wide: the last ``bars`` bars, most recent first, and the current one
    (character ids + 1, 0 = none), the position in the bar, whether only skipped
    characters have come since the bar line, the last two offers, and the last
    character.

    Args:
        bar_id: int, the id of ``|``.
        newline_id: int, the id of ``\\n``.
        skip_ids: list of ints, ids of characters holding no position at a bar's start.
        bar_chars: int, characters kept per bar.
        bars: int, bars kept for the match offer.
        phrase_bars: int, the phrase offer's distance in bars (at most ``bars``).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> lookback = BarLookback(**lookback_for(vocab))
    >>> offers, state = lookback(ids)  # ids: (batch, time) int32
    >>> offers.shape  # (batch, time, 4): phrase and match offers (id + 1), two repeats
    """

    def __init__(self, bar_id, newline_id, skip_ids=(), bar_chars=BAR_CHARS, bars=BARS,
                 phrase_bars=PHRASE_BARS, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        for name, value in (("bar_chars", bar_chars), ("bars", bars), ("phrase_bars", phrase_bars)):
            if int(value) < 1:
                raise ValueError(f"BarLookback {name} must be a positive integer, got {value!r}")
        if int(phrase_bars) > int(bars):
            raise ValueError(f"BarLookback phrase_bars ({phrase_bars}) must be <= bars ({bars})")
        self.bar_id = int(bar_id)
        self.newline_id = int(newline_id)
        self.skip_ids = [int(i) for i in skip_ids]
        self.bar_chars = int(bar_chars)
        self.bars = int(bars)
        self.phrase_bars = int(phrase_bars)
        self.state_size = (self.bars + 1) * self.bar_chars + 5

    def initial_state(self, batch):
        return tf.zeros([batch, self.state_size], tf.int32)

    def step(self, ids, state):
        """Read ``ids`` (batch,): ``(offers (batch, 4) int32, new state)``.

        ``offers`` are, for the character after ``ids``: the phrase offer and the
        match offer (id + 1; 0: none), and whether ``ids`` was what each had offered
        (1 or 0).
        """
        n, k = self.bar_chars, self.bars
        batch = tf.shape(ids)[0]
        ids = tf.cast(ids, tf.int32)
        bars = tf.reshape(state[:, : k * n], [batch, k, n])  # most recent first
        cur = state[:, k * n : (k + 1) * n]
        rank, lead, last_phrase, last_match, last = (state[:, (k + 1) * n + j] for j in range(5))
        code = ids + 1  # stored codes: 0 means none, so no code equals a missing offer
        took_phrase = tf.cast(last_phrase == code, tf.int32)
        took_match = tf.cast(last_match == code, tf.int32)
        is_bar = ids == self.bar_id
        is_newline = ids == self.newline_id
        blank_line = is_newline & (last == self.newline_id + 1)  # between tunes
        skip = tf.zeros_like(ids, tf.bool)
        for skip_id in self.skip_ids:
            skip |= ids == skip_id
        held = (lead > 0) & skip  # a bar-line character at the bar's start: no position
        counted = ~(is_bar | is_newline | held)
        slot = tf.one_hot(rank, n, dtype=tf.int32) * tf.cast(counted, tf.int32)[:, None]
        cur_written = cur * (1 - slot) + code[:, None] * slot  # (batch, n)
        shift = is_bar & (lead == 0)  # "||" or "|\n|" closes no empty bar
        shifted = tf.concat([cur[:, None, :], bars[:, :-1, :]], axis=1)
        new_bars = tf.where(shift[:, None, None], shifted, bars)
        new_bars = tf.where(blank_line[:, None, None], tf.zeros_like(bars), new_bars)
        restart = is_bar | is_newline
        new_cur = tf.where(restart[:, None], tf.zeros_like(cur), cur_written)
        new_rank = tf.where(restart, 0, tf.minimum(rank + tf.cast(counted, tf.int32), n))
        new_lead = tf.where(restart, 1, tf.where(counted, 0, lead))
        at = tf.one_hot(new_rank, n, dtype=tf.int32)  # rank n (bar full): all zeros
        following = tf.reduce_sum(new_bars * at[:, None, :], axis=-1)  # (batch, bars)
        phrase = following[:, self.phrase_bars - 1]
        # the latest bar whose first new_rank characters are the current bar's
        prefix = tf.range(n)[None, :] < new_rank[:, None]  # (batch, n)
        same = tf.reduce_all(
            (new_bars == new_cur[:, None, :]) | ~prefix[:, None, :], axis=-1
        )  # (batch, bars)
        same &= (new_rank > 0)[:, None] & (following > 0)
        latest = tf.argmax(tf.cast(same, tf.int32), axis=-1, output_type=tf.int32)
        found = tf.reduce_any(same, axis=-1)
        match = tf.where(found, tf.gather(following, latest, batch_dims=1), 0)
        new_state = tf.concat(
            [
                tf.reshape(new_bars, [batch, k * n]),
                new_cur,
                tf.stack([new_rank, new_lead, phrase, match, code], axis=-1),
            ],
            axis=-1,
        )
        return tf.stack([phrase, match, took_phrase, took_match], axis=-1), new_state

    @tf.function(reduce_retracing=True)
    def _scan(self, ids, state):
        def advance(carry, ids_t):
            return self.step(ids_t, carry[1])

        first = (tf.zeros([tf.shape(ids)[0], 4], tf.int32), state)
        offers, states = tf.scan(advance, tf.transpose(ids), initializer=first)
        return tf.transpose(offers, [1, 0, 2]), states[-1]

    def call(self, inputs, initial_state=None):
        """``(offers (batch, time, 4), final state)`` for ids ``(batch, time)``."""
        ids = tf.cast(inputs, tf.int32)
        state = self.initial_state(tf.shape(ids)[0]) if initial_state is None else initial_state
        return self._scan(ids, state)  # compiled also when called eagerly

    def compute_output_shape(self, input_shape):
        return (*input_shape, 4), (input_shape[0], self.state_size)

    def get_config(self):
        return {
            **super().get_config(),
            "bar_id": self.bar_id,
            "newline_id": self.newline_id,
            "skip_ids": self.skip_ids,
            "bar_chars": self.bar_chars,
            "bars": self.bars,
            "phrase_bars": self.phrase_bars,
        }


def lookback_for(vocab, bar_chars=BAR_CHARS, bars=BARS, phrase_bars=PHRASE_BARS):
    """The `BarLookback` settings for ``vocab`` (a `Vocabulary` with ``|`` and a newline)."""
    missing = [c for c in "|\n" if c not in vocab.index]
    if missing:
        raise ValueError(f"a lookback model needs {missing!r} in its vocabulary")
    return {
        "bar_id": vocab.index["|"],
        "newline_id": vocab.index["\n"],
        "skip_ids": [vocab.index[c] for c in SKIP_CHARS if c in vocab.index],
        "bar_chars": bar_chars,
        "bars": bars,
        "phrase_bars": phrase_bars,
    }


@keras.saving.register_keras_serializable(package="tfdl")
class LookbackRNN(MusicRNN):
    """`MusicRNN` whose LSTM also reads the lookback's offers (see the module docstring).

    The phrase and match offers share an embedding of ``embedding_dim`` (row 0: no
    offer); the two repeats (was the last character the one offered) go in as 0/1.
    The state is ``[h, c, lookback]``.

    Args:
        vocab_size, embedding_dim, rnn_units, dropout: as `MusicRNN`.
        lookback: dict of `BarLookback` arguments (see `lookback_for`).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = LookbackRNN(vocab_size=94, rnn_units=640, lookback=lookback_for(vocab))
    >>> logits, [h, c, lookback] = model(ids, return_state=True)
    """

    def __init__(self, vocab_size, embedding_dim=256, rnn_units=1024, dropout=0.0, *,
                 lookback, **kwargs):  # fmt: skip
        super().__init__(vocab_size, embedding_dim, rnn_units, dropout, **kwargs)
        self.lookback_config = dict(lookback)
        self.lookback = BarLookback(**self.lookback_config)
        self.offer_embedding = keras.layers.Embedding(self.vocab_size + 1, self.embedding_dim)
        # the LSTM reads: character, phrase offer, match offer, 2 repeats
        self.input_dim = 3 * self.embedding_dim + 2

    def build(self, input_shape=(None, None)):
        batch, time = input_shape[0], input_shape[1]
        self.embedding.build((batch, time))
        self.offer_embedding.build((batch, time))
        self.lstm.build((batch, time, self.input_dim))
        self.dense.build((batch, time, self.rnn_units))

    def _inputs(self, chars, offers):
        # chars: (..., ) ids; offers: (..., 4) from BarLookback -> (..., input_dim)
        return ops.concatenate(
            [
                self.embedding(chars),
                self.offer_embedding(offers[..., 0]),
                self.offer_embedding(offers[..., 1]),
                ops.cast(offers[..., 2:], self.embedding.compute_dtype),
            ],
            axis=-1,
        )

    def call(self, inputs, initial_state=None, return_state=False, training=False):
        lstm_state, lookback_state = None, None
        if initial_state is not None:
            lstm_state, lookback_state = initial_state[:2], initial_state[2]
        offers, lookback_state = self.lookback(inputs, lookback_state)
        x = self.input_dropout(self._inputs(inputs, offers), training=training)
        x, h, c = self.lstm(x, initial_state=lstm_state, training=training)
        logits = self.dense(self.output_dropout(x, training=training))  # (batch, time, vocab)
        if return_state:
            return logits, [h, c, lookback_state]
        return logits

    def input_table(self):
        """The LSTM input contribution of each character, then of each offer (phrase,
        match), then of the two repeats: ``(vocab + 2 * (vocab + 1) + 2, 4 * units)``.
        A step sums four rows of it."""
        kernel, bias = self.lstm.cell.kernel, self.lstm.cell.bias
        dim = self.embedding_dim
        return ops.concatenate(
            [
                ops.matmul(self.embedding.embeddings, kernel[:dim]) + bias,
                ops.matmul(self.offer_embedding.embeddings, kernel[dim : 2 * dim]),
                ops.matmul(self.offer_embedding.embeddings, kernel[2 * dim : 3 * dim]),
                kernel[3 * dim :],
            ],
            axis=0,
        )

    def step(self, char_ids, state, input_table=None, recurrent_blocks_t=None):
        """`MusicRNN.step` with the lookback read first; ``state`` is ``[h, c, lookback]``."""
        table = self.input_table() if input_table is None else input_table
        h, c, lookback_state = state
        offers, lookback_state = self.lookback.step(char_ids, lookback_state)
        vocab = self.vocab_size
        rows = ops.stack(
            [
                char_ids,
                vocab + offers[:, 0],
                2 * vocab + 1 + offers[:, 1],
            ],
            axis=-1,
        )  # (batch, 3)
        matches = ops.cast(offers[:, 2:], table.dtype)  # (batch, 2)
        inputs = ops.sum(ops.take(table, rows, axis=0), axis=1) + matches @ table[-2:]
        h, c = self.cell_step(inputs, h, c, recurrent_blocks_t)
        return self.dense(h), [h, c, lookback_state]

    def get_config(self):
        return {**super().get_config(), "lookback": self.lookback_config}
