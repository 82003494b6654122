"""Write new songs with a trained MusicRNN: a compiled sampling loop over a batch of songs.

Three modes (`SongSampler.sample`):

- ``form="keep"`` (the default): the metrical sampler below, whose grammar
  (`tfdl.music.grammar.SongGrammar` with a `FormPlan`) also keeps a dance tune's
  form: ``parts`` parts of ``bars_per_part`` bars, each closed by ``:|`` or a pair of
  endings, each ending on the tonic (``part_endings="last"``: the last one only;
  ``type`` sets meter, parts and bars);
- ``form="free"``, metrical: every header line and every bar is drawn from the
  model restricted to well-formed ones. The songs advance in compiled chunks of
  `CHUNK` characters; after each chunk the host reads each song's new bars with
  `tfdl.music.meter.BarReader`, and a header line or bar that does not parse, or does
  not last what ``M:`` says, is thrown away and drawn again from the LSTM state saved
  at its start (with fresh noise). This samples from the model conditioned on a
  well-formed bar, never edits the text, and keeps the model's own choice of notes.
  Why this and not a token mask: the model reads characters, and a bar's length is
  known only when it closes (``A3/2`` or ``(3abc``), so a character mask cannot know
  which continuations can still make a whole bar; rejection at the bar needs no
  change to the model and costs only the redrawn bars.
- ``metrical=False``: the unconstrained sampler, one compiled loop to the end.

The grammar decides what to keep and is tested without a model; this module holds
the compiled loops that draw the characters.
"""

import time

import numpy as np
import tensorflow as tf

from tfdl.errors import UserError
from tfdl.music.dataset import TUNE_SEPARATOR
from tfdl.music.grammar import SongGrammar, form_plan, header_prime

DEFAULT_PRIME = "X:1\n"
# Characters per compiled chunk of the metrical sampler: long enough that a call's
# overhead is small, short enough that a bad bar wastes little (a bar is ~15-25 chars).
CHUNK = 32
# A lone song (one row) runs longer chunks: a call costs ~1.5 ms (bench/music_bench.py).
ONE_SONG_CHUNK = 96
# Rows a chunk may use for redraws, and draws of one piece at a time at most.
CANDIDATE_ROWS = 16
MAX_CANDIDATES = 4
# Times a song whose form the sampler gave up on (out of back-ups and restarts, or of
# room) is written again from the prime with other noise, before it is returned
# unfinished (`SongSampler.gave_up` counts those). Only the songs given up on are
# written again, so this costs nothing where the model keeps the form. With the
# model shipped before the lookback one (seed 7384, 20 songs of each type, `python
# bench/tune_types.py`, before FRUITLESS_RETRIES), 3 retries left 2 of 20 slides
# unfinished (none retried: 10 of 20), 8 left none.
FORM_RETRIES = 8
# Rounds of retries in a row that finish no song before the sampler stops retrying: a
# model that cannot write the form at all (a tiny one, or a type it never learnt) fails
# in 3 tries, not 9.
FRUITLESS_RETRIES = 2


def _float32(state):
    """A float state item as float32 (an int32 one, the lookback's, as it is)."""
    return tf.cast(state, tf.float32) if state.dtype.is_floating else state


def sampler_work(songs, discarded=()):
    """What the metrical sampler drew to write ``songs`` (`SongGrammar` objects), the
    ``discarded`` tries at a form (see `FORM_RETRIES`) included."""
    tried = [*songs, *discarded]
    accepted = sum(song.accepted for song in tried)
    rejected = sum(song.rejected for song in tried)
    kept = sum(len(song.text) for song in songs)
    reasons = {}
    for song in tried:
        for why, count in song.rejections.items():
            reasons[why] = reasons.get(why, 0) + count
    return {
        "pieces_accepted": accepted,
        "pieces_rejected": rejected,
        "rejections_per_accepted_piece": round(rejected / max(accepted, 1), 3),
        "chars_drawn_per_kept": round(sum(song.drawn for song in tried) / max(kept, 1), 3),
        # why pieces were drawn again (`tfdl.music.grammar.REJECTIONS`), commonest first
        "rejections_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }


class PastDeadline(RuntimeError):
    """Sampling was still going at its ``deadline`` (`SongSampler.sample`)."""


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
        self.work = None  # `sampler_work` of the last metrical sample() call
        self.gave_up = 0  # songs of the last call that end before their form is complete
        newline = vocab.index.get("\n")
        # -1 never matches a sampled id: without "\n" in the vocabulary songs run to length.
        self._newline = tf.constant(-1 if newline is None else newline, tf.int32)
        self._loop = tf.function(self._sample_loop, jit_compile=jit_compile, reduce_retracing=True)

    def _sample_loop(self, prime_ids, length, temperature, top_k, seed, one_song):
        # prime_ids: (songs, prime_len) int32; returns (songs, length) ids, -1 after the end.
        songs = tf.shape(prime_ids)[0]
        logits, state = self.model(prime_ids, return_state=True)
        logits = logits[:, -1, :]  # (songs, vocab)
        state = [_float32(s) for s in state]  # bfloat16 under mixed precision
        table = self.model.input_table()  # (vocab, 4 * units), computed once per call
        # One song: matrix-vector products on transposed blocks are ~2.5x faster; for a
        # batch of songs the plain matmul is (measured in bench/music_bench.py).
        blocks = self.model.recurrent_blocks_t() if one_song else None
        prev = prime_ids[:, -1]
        done = tf.zeros([songs], tf.bool)
        out = tf.TensorArray(tf.int32, size=length, element_shape=tf.TensorShape([None]))

        def body(i, logits, state, prev, done, out):
            # The noise is keyed by (seed, i): same seed, same songs.
            ids = self._draw(logits, temperature, top_k, tf.stack([seed, i]))
            out = out.write(i, tf.where(done, -1, ids))
            done = done | ((prev == self._newline) & (ids == self._newline))
            new_logits, new_state = self.model.step(ids, state, table, blocks)
            # a LookbackRNN's step loses the static number of songs (its reading gathers
            # by row); the loop needs the shapes it started with
            logits = tf.ensure_shape(new_logits, logits.shape)
            state = [tf.ensure_shape(n, s.shape) for n, s in zip(new_state, state)]
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

    def _chunk_loop(self, state, prev, table, steps, temperature, top_k, seed, offset):
        # state: the model's state after the text so far, a list whose first item is h
        # (songs, units) (a MusicRNN's [h, c]; a LookbackRNN's [h, c, lookback]); prev:
        # (songs,) the last character of the text; table: the model's input_table(),
        # computed once per sample() call. Runs up to `steps` steps, fewer once every
        # song has drawn a blank line (the end of a tune). Returns the sampled ids
        # (steps run, songs) and the state after each of them, (steps run, songs, ...)
        # for each item.
        logits = self.model.state_logits(state)
        ids_out = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        states_out = [tf.TensorArray(s.dtype, size=0, dynamic_size=True) for s in state]
        done = tf.zeros(tf.shape(prev), tf.bool)

        def body(i, logits, state, prev, done, ids_out, states_out):
            ids = self._draw(logits, temperature, top_k, tf.stack([seed, offset + i]))
            done = done | ((prev == self._newline) & (ids == self._newline))
            logits, state = self.model.step(ids, state, table)
            ids_out = ids_out.write(i, ids)
            states_out = [out.write(i, s) for out, s in zip(states_out, state)]
            return i + 1, logits, state, ids, done, ids_out, states_out

        def going(i, logits, state, prev, done, *_):
            return (i < steps) & ~tf.reduce_all(done)

        loop = [tf.constant(0), logits, list(state), prev, done, ids_out, states_out]
        *_, ids_out, states_out = tf.while_loop(going, body, loop)
        return ids_out.stack(), [out.stack() for out in states_out]

    def _start_state(self, prime_ids):
        """``(state, input_table)``: the model's state after the prime, and its table.

        The state is float32 also for a mixed-precision model (whose LSTM returns
        bfloat16 or float16): `MusicRNN.step` computes in its float32 weights.
        """
        _, state = self.model(prime_ids, return_state=True)
        return [_float32(s) for s in state], self.model.input_table()

    @staticmethod
    def _draw(logits, temperature, top_k, key):
        """One categorical draw per row of ``logits``, the one draw both loops make.

        top-k keeps the k largest logits and pushes the rest to -inf; Gumbel-max,
        argmax(logits + Gumbel noise), is an exact categorical draw that compiles under
        XLA, its noise keyed by ``key``.
        """
        scaled = tf.cast(logits, tf.float32) / temperature
        kth = tf.math.top_k(scaled, k=top_k).values[:, -1:]  # (songs, 1)
        scaled = tf.where(scaled < kth, tf.constant(-np.inf, scaled.dtype), scaled)
        u = tf.random.stateless_uniform(
            tf.shape(scaled), seed=key, minval=1e-20, maxval=1.0, alg="philox"
        )
        return tf.argmax(scaled - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)

    def sample(
        self,
        num_songs=1,
        length=1000,
        temperature=1.0,
        top_k=None,
        seed=0,
        prime=None,
        metrical=True,
        form="keep",
        type="any",
        parts=None,
        bars_per_part=None,
        meter=None,
        key=None,
        deadline=None,
        part_endings="tonic",
    ):
        """Generate ``num_songs`` songs of at most ``length`` new characters each.

        Args:
            num_songs: songs to write at once (one batch).
            length: the most characters to add after the prime.
            temperature: > 0; below 1 is more conservative, above 1 more adventurous.
            top_k: sample only among the k most likely characters (None: all).
            seed: int; the same seed, prime and settings give the same songs.
            prime: text every song starts with (default ``"X:1\\n"``); a header such
                as ``"X:1\\nM:6/8\\nL:1/8\\nK:D\\n"`` chooses meter and key.
            metrical: draw every header line and bar again until it is well formed
                and lasts what ``M:`` says (see the module docstring); False gives
                the unconstrained sampler. A metrical prime must end with a newline
                or a bar line.
            form: ``"keep"`` (metrical only): keep the form of ``type`` (see the
                module docstring); ``"free"``: bars are metrical, the form is the
                model's.
            type: a tune type of `tfdl.music.grammar.TUNE_TYPES` (``"jig"``,
                ``"reel"``, ...): its meter, parts and bars per part; ``"any"``: the
                model picks the meter, 2 parts of 8 bars.
            parts, bars_per_part: override the type's (a prime's whole parts set the
                bars per part when ``bars_per_part`` is None).
            meter, key: ``M:`` (with its default ``L:``) and ``K:`` added to a prime
                that leaves them open; ``meter`` overrides the type's.

            part_endings: with ``form="keep"``, ``"tonic"``: every part ends on the
                tonic of ``K:``; ``"last"``: only the last part (the tune) does.
            deadline: a `time.monotonic` time; metrical sampling raises `PastDeadline`
                at the first chunk that starts after it (None: no deadline).

        Returns a list of strings, each the prime followed by the generated text up
        to and excluding the blank line that ends it. With a form to keep, a song the
        grammar gives up on is written again (`FORM_RETRIES` times); ``self.gave_up``
        counts those that still end at their last whole bar, before the form is
        complete.
        """
        prime = DEFAULT_PRIME if prime is None else prime
        if not prime:
            raise UserError("prime must be at least one character")
        if form not in ("keep", "free"):
            raise UserError(f"form must be keep or free, got {form!r}")
        # the type's meter goes with every mode; its form only with form="keep"
        plan = form_plan(type, parts, bars_per_part, meter, part_endings)
        meter, plan = plan.meter, (plan if form == "keep" else None)
        if meter is not None or key is not None:
            prime = header_prime(prime, meter, key)
        if int(num_songs) < 1 or int(length) < 1:
            raise UserError(f"num_songs and length must be >= 1, got {num_songs}, {length}")
        if not float(temperature) > 0:
            raise UserError(f"temperature must be > 0, got {temperature}")
        top_k = len(self.vocab) if top_k is None else int(top_k)
        if not 1 <= top_k <= len(self.vocab):
            raise UserError(f"top_k must be between 1 and {len(self.vocab)}, got {top_k}")
        try:
            prime_ids = self.vocab.encode(prime)
        except ValueError as e:
            raise UserError(f"prime has {e}") from None
        batch = np.tile(prime_ids[None, :], (int(num_songs), 1))
        self.gave_up = 0
        if metrical:
            args = (prime, int(length), temperature, top_k)
            songs = self._sample_metrical(batch, *args, seed, plan, deadline)
            discarded, fruitless = [], 0
            for retry in range(1, FORM_RETRIES + 1 if plan is not None else 1):
                again = [i for i, song in enumerate(songs) if song.gave_up]
                if not again or fruitless == FRUITLESS_RETRIES:
                    break
                other = (int(seed) + 7919 * retry) % 2**31  # other noise, the same each run
                redrawn = self._sample_metrical(batch[again], *args, other, plan, deadline)
                for i, song in zip(again, redrawn):
                    discarded.append(songs[i])
                    songs[i] = song
                rescued = sum(not song.gave_up for song in redrawn)
                fruitless = 0 if rescued else fruitless + 1
            self.work = sampler_work(songs, discarded)
            self.gave_up = sum(song.gave_up for song in songs) if plan is not None else 0
            return [song.text for song in songs]
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

    def _sample_metrical(
        self, batch, prime, length, temperature, top_k, seed, plan=None, deadline=None
    ):
        songs = [SongGrammar.start(prime, length, plan) for _ in range(len(batch))]
        if not hasattr(self, "_chunk"):
            self._start = tf.function(self._start_state, reduce_retracing=True)
        state, table = self._start(tf.constant(batch))  # compiled: eager Keras takes ~20 ms
        if not hasattr(self, "_chunk"):
            # One trace for every number of rows (a retrace costs ~0.5 s).
            states = [tf.TensorSpec([None, *s.shape[1:]], s.dtype) for s in state]
            scalar = tf.TensorSpec([], tf.int32)
            signature = [states, tf.TensorSpec([None], tf.int32)]
            signature += [tf.TensorSpec(table.shape, table.dtype), scalar]
            signature += [tf.TensorSpec([], tf.float32), scalar, scalar, scalar]
            self._chunk = tf.function(self._chunk_loop, input_signature=signature)
        for song, *rows in zip(songs, *(s.numpy() for s in state)):
            song.state = tuple(rows)
            song.saved = song.state
        active = list(range(len(songs)))
        offset = 0
        while active:
            if deadline is not None and time.monotonic() > deadline:
                raise PastDeadline(f"{len(active)} of {len(songs)} songs unfinished")
            # A song that must redraw a piece gets spare rows while the batch is small
            # (rows cost little until the batch fills the CPU: bench/music_bench.py):
            # independent draws of the piece from its saved state, each ready to stand
            # in for the one before if it is rejected too.
            spare = max(1, min(MAX_CANDIDATES, CANDIDATE_ROWS // len(active)))
            rows = {j: spare if songs[j].redraw else 1 for j in active}
            starts = [songs[j] for j in active for _ in range(rows[j])]
            before = [np.stack(items) for items in zip(*(song.state for song in starts))]
            prev = np.array([self.vocab.index.get(song.last_char, -1) for song in starts], np.int32)
            steps = CHUNK if len(starts) > 1 else ONE_SONG_CHUNK
            ids, after = self._chunk(
                [tf.constant(s) for s in before],
                tf.constant(prev),
                table,
                tf.constant(steps),
                tf.constant(float(temperature)),
                tf.constant(top_k),
                tf.constant(int(seed), tf.int32),
                tf.constant(offset),
            )
            offset += steps
            ids, after = np.asarray(ids), [np.asarray(s) for s in after]
            first = 0
            for j in active:
                song = songs[j]
                for row in range(first, first + rows[j]):
                    trial = song.fork()
                    text = self.vocab.decode(ids[:, row])
                    trial.read(text, ([s[:, row] for s in after], [s[row] for s in before]))
                    # The first draw (in row order) not rejected at once is taken: the
                    # same choice as redrawing one row after another.
                    if not trial.rejected_at_once(song):
                        break
                    song = trial  # its tries count the rejection
                songs[j] = trial
                first += rows[j]
            active = [j for j in active if not songs[j].done]
        return songs
