"""Write new songs with a trained MusicRNN: a compiled sampling loop over a batch of songs."""

import numpy as np
import tensorflow as tf

from tfdl.music.dataset import TUNE_SEPARATOR

DEFAULT_PRIME = "X:1\n"


class SongSampler:
    """Samples songs from ``model`` (a `tfdl.models.MusicRNN`) with ``vocab``.

    The loop runs inside one ``tf.function`` (XLA-compiled with ``jit_compile=True``):
    every song advances one character per iteration, all songs in one batch. A song
    is finished at its first blank line (the end of a tune) or at the length limit;
    the loop ends when every song is finished.
    """

    def __init__(self, model, vocab, jit_compile=False):
        self.model = model
        self.vocab = vocab
        newline = vocab.index.get("\n")
        # -1 never matches a sampled id: without "\n" in the vocabulary songs run to length.
        self._newline = tf.constant(-1 if newline is None else newline, tf.int32)
        self._loop = tf.function(self._sample_loop, jit_compile=jit_compile, reduce_retracing=True)

    def _sample_loop(self, prime_ids, length, temperature, top_k, seed, one_song):
        # prime_ids: (songs, prime_len) int32; returns (songs, length) ids, -1 after the end.
        songs = tf.shape(prime_ids)[0]
        logits, state = self.model(prime_ids, return_state=True)
        logits = logits[:, -1, :]  # (songs, vocab)
        table = self.model.input_table()  # (vocab, 4 * units), computed once per call
        # One song: matrix-vector products on transposed blocks are ~2.5x faster; for a
        # batch of songs the plain matmul is (measured in bench/music_bench.py).
        blocks = self.model.recurrent_blocks_t() if one_song else None
        prev = prime_ids[:, -1]
        done = tf.zeros([songs], tf.bool)
        out = tf.TensorArray(tf.int32, size=length, element_shape=tf.TensorShape([None]))

        def body(i, logits, state, prev, done, out):
            scaled = logits / temperature
            # top-k: keep the k largest logits, push the rest to -inf
            kth = tf.math.top_k(scaled, k=top_k).values[:, -1:]  # (songs, 1)
            scaled = tf.where(scaled < kth, tf.constant(-np.inf, scaled.dtype), scaled)
            # Gumbel-max: argmax(logits + Gumbel noise) is an exact categorical draw, and
            # compiles under XLA. The noise is keyed by (seed, i): same seed, same songs.
            u = tf.random.stateless_uniform(
                tf.shape(scaled), seed=tf.stack([seed, i]), minval=1e-20, maxval=1.0, alg="philox"
            )
            ids = tf.argmax(scaled - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)
            out = out.write(i, tf.where(done, -1, ids))
            done = done | ((prev == self._newline) & (ids == self._newline))
            logits, state = self.model.step(ids, state, table, blocks)
            return i + 1, logits, state, ids, done, out

        def not_finished(i, logits, state, prev, done, out):
            return (i < length) & ~tf.reduce_all(done)

        _, _, _, _, _, out = tf.while_loop(
            not_finished, body, [tf.constant(0), logits, state, prev, done, out]
        )
        # unwritten rows (all songs finished early) stay zero-filled: mark them ended too
        written = out.stack()  # (steps_run, songs)
        pad = tf.fill([length - tf.shape(written)[0], songs], -1)
        return tf.transpose(tf.concat([written, pad], axis=0))

    def sample(self, num_songs=1, length=1000, temperature=1.0, top_k=None, seed=0, prime=None):
        """Generate ``num_songs`` songs of at most ``length`` new characters each.

        Args:
            num_songs: songs to write at once (one batch).
            length: the most characters to add after the prime.
            temperature: > 0; below 1 is more conservative, above 1 more adventurous.
            top_k: sample only among the k most likely characters (None: all).
            seed: int; the same seed, prime and settings give the same songs.
            prime: text every song starts with (default ``"X:1\\n"``); a header such
                as ``"X:1\\nM:6/8\\nL:1/8\\nK:D\\n"`` chooses meter and key.

        Returns a list of strings, each the prime followed by the generated text up
        to and excluding the blank line that ends it.
        """
        prime = DEFAULT_PRIME if prime is None else prime
        if not prime:
            raise ValueError("prime must be at least one character")
        if int(num_songs) < 1 or int(length) < 1:
            raise ValueError(f"num_songs and length must be >= 1, got {num_songs}, {length}")
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        top_k = len(self.vocab) if top_k is None else int(top_k)
        if not 1 <= top_k <= len(self.vocab):
            raise ValueError(f"top_k must be between 1 and {len(self.vocab)}, got {top_k}")
        try:
            prime_ids = self.vocab.encode(prime)
        except ValueError as e:
            raise ValueError(f"prime has {e}") from None
        batch = np.tile(prime_ids[None, :], (int(num_songs), 1))
        ids = self._loop(
            tf.constant(batch),
            tf.constant(int(length)),
            tf.constant(float(temperature)),
            tf.constant(top_k),
            tf.constant(int(seed), tf.int32),
            int(num_songs) == 1,
        ).numpy()
        songs = []
        for row in ids:
            text = prime + self.vocab.decode(row[row >= 0])
            end = text.find(TUNE_SEPARATOR, len(prime) - 1)
            songs.append(text if end < 0 else text[:end])
        return songs
