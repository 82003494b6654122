"""The lab-1 music model: Embedding -> LSTM -> Dense logits over characters."""

import math

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="tfdl")
class MusicRNN(keras.Model):
    """A character-level LSTM language model whose recurrent state is explicit.

    ``call`` takes an optional initial state and can return the final one, so one
    model trains on ``(batch, time)`` windows and generates any number of songs at
    once, one character at a time, with no stateful layers and no rebuild.

    The LSTM keeps Keras's default activations, no recurrent dropout and no
    unrolling: exactly the conditions under which Keras runs it on cuDNN on a GPU.
    Regularising dropout therefore sits outside it, on the embeddings going in and
    the LSTM outputs going out, and only while training.

    Args:
        vocab_size: int, number of distinct characters.
        embedding_dim: int, size of each character's embedding (lab: 256).
        rnn_units: int, LSTM units (lab: 1024).
        dropout: float in [0, 1), the fraction of LSTM inputs and outputs dropped
            while training (lab: 0; generation never drops).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = MusicRNN(vocab_size=83, embedding_dim=256, rnn_units=1024)
    >>> logits, state = model(np.zeros((8, 100), "int32"), return_state=True)
    >>> logits.shape, state[0].shape
    ((8, 100, 83), (8, 1024))
    """

    def __init__(self, vocab_size, embedding_dim=256, rnn_units=1024, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (
            ("vocab_size", vocab_size),
            ("embedding_dim", embedding_dim),
            ("rnn_units", rnn_units),
        ):
            if int(value) < 1:
                raise ValueError(f"MusicRNN {name} must be a positive integer, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"MusicRNN dropout must be in [0, 1), got {dropout!r}")
        self.vocab_size = int(vocab_size)
        self.embedding_dim = int(embedding_dim)
        self.rnn_units = int(rnn_units)
        self.dropout = float(dropout)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim)
        self.lstm = keras.layers.LSTM(
            self.rnn_units,
            return_sequences=True,
            return_state=True,
            recurrent_initializer="glorot_uniform",  # as in the lab
        )
        # Always present (rate 0 drops nothing): models with and without dropout
        # have the same weights, so one can start from the other (--init-from).
        self.input_dropout = keras.layers.Dropout(self.dropout)
        self.output_dropout = keras.layers.Dropout(self.dropout)
        # float32 logits also under mixed precision: a softmax over ~90 characters
        # and its loss want float32's resolution.
        self.dense = keras.layers.Dense(self.vocab_size, dtype="float32")

    def build(self, input_shape=(None, None)):
        batch, time = input_shape[0], input_shape[1]
        self.embedding.build((batch, time))
        self.lstm.build((batch, time, self.embedding_dim))
        self.dense.build((batch, time, self.rnn_units))

    def call(self, inputs, initial_state=None, return_state=False, training=False):
        x = self.embedding(inputs)  # (batch, time, embedding_dim)
        x = self.input_dropout(x, training=training)
        x, h, c = self.lstm(x, initial_state=initial_state, training=training)
        logits = self.dense(self.output_dropout(x, training=training))  # (batch, time, vocab)
        if return_state:
            return logits, [h, c]  # (batch, rnn_units) each
        return logits

    def input_table(self):
        """Each character's LSTM input contribution, ``embedding @ kernel + bias``.

        (vocab, 4 * units). Because the input is always one of ``vocab_size``
        characters, this table replaces the input matmul of every generation step.
        """
        cell = self.lstm.cell
        return ops.matmul(self.embedding.embeddings, cell.kernel) + cell.bias

    def recurrent_blocks_t(self, blocks=2):
        """The recurrent kernel as ``blocks`` transposed column blocks, (4 * units / blocks, units).

        For a single song the recurrent matmul is a matrix-vector product bound by
        memory bandwidth: row-major blocks make it a run of contiguous dot products,
        and independent blocks run on separate cores (~2.5x on a 2-core CPU).
        """
        return [ops.transpose(b) for b in ops.split(self.lstm.cell.recurrent_kernel, blocks, -1)]

    def step(self, char_ids, state, input_table=None, recurrent_blocks_t=None):
        """Advance one character: ``char_ids`` (batch,) -> logits (batch, vocab), new state.

        The LSTM cell's equations written out (gate order i, f, c, o as in Keras),
        with the input matmul replaced by a row of `input_table`: the same numbers
        as ``call`` on a one-character sequence, for a fraction of the work.

        ``recurrent_blocks_t`` (see `recurrent_blocks_t`) computes the recurrent
        matmul as independent matrix-vector products, the fast way for one song.
        """
        table = self.input_table() if input_table is None else input_table
        h, c = state  # (batch, units) each
        h, c = self.cell_step(ops.take(table, char_ids, axis=0), h, c, recurrent_blocks_t)
        return self.dense(h), [h, c]

    def state_logits(self, state):
        """The logits for the character after a ``state`` (``[h, c]``)."""
        return self.dense(state[0])

    def cell_step(self, inputs, h, c, recurrent_blocks_t=None):
        """The LSTM cell on its input contribution ``inputs`` (batch, 4 * units): new h, c."""
        if recurrent_blocks_t is None:
            recurrent = ops.matmul(h, self.lstm.cell.recurrent_kernel)
        else:
            recurrent = ops.concatenate(
                [tf.matmul(h, block, transpose_b=True) for block in recurrent_blocks_t], axis=-1
            )
        i, f, g, o = ops.split(inputs + recurrent, 4, axis=-1)  # (batch, units) each
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c), c

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "rnn_units": self.rnn_units,
            "dropout": self.dropout,
        }


def music_loss(model, batch, training):
    """Mean next-character cross-entropy over a batch of windows: nats, and bits per char.

    The ``loss_fn`` that `tfdl.training.Trainer` trains a `MusicRNN` with.
    """
    inputs, targets = batch  # (batch, time) each
    logits = model(inputs, training=training)  # (batch, time, vocab)
    nats = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    loss = keras.ops.mean(nats)
    return loss, {"bits_per_char": loss / math.log(2)}
