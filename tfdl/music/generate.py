"""Write new songs with a trained MusicRNN: a compiled sampling loop over a batch of songs.

Two modes (`SongSampler.sample`):

- ``metrical=True`` (the default): every header line and every bar is drawn from the
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
"""

import dataclasses
import re
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from tfdl.errors import UserError
from tfdl.music.dataset import TUNE_SEPARATOR

DEFAULT_PRIME = "X:1\n"
# Characters per compiled chunk of the metrical sampler: long enough that a call's
# overhead is small, short enough that a bad bar wastes little (a bar is ~15-25 chars).
CHUNK = 32
# A lone song (one row) runs longer chunks: a call costs ~1.5 ms (bench/music_bench.py).
ONE_SONG_CHUNK = 96
# Draws of one header line or bar before the sampler backs up one more piece, and
# back-ups before it ends the song at its last accepted bar (see _MetricalSong).
MAX_TRIES = 16
MAX_BACKTRACKS = 8
# Rows a chunk may use for redraws, and draws of one piece at a time at most.
CANDIDATE_ROWS = 16
MAX_CANDIDATES = 4
_HEADER_LINE = re.compile(r"[A-Za-z]:.*")


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
        newline = vocab.index.get("\n")
        # -1 never matches a sampled id: without "\n" in the vocabulary songs run to length.
        self._newline = tf.constant(-1 if newline is None else newline, tf.int32)
        self._loop = tf.function(self._sample_loop, jit_compile=jit_compile, reduce_retracing=True)

    def _sample_loop(self, prime_ids, length, temperature, top_k, seed, one_song):
        # prime_ids: (songs, prime_len) int32; returns (songs, length) ids, -1 after the end.
        songs = tf.shape(prime_ids)[0]
        logits, state = self.model(prime_ids, return_state=True)
        logits = logits[:, -1, :]  # (songs, vocab)
        state = [tf.cast(s, tf.float32) for s in state]  # bfloat16 under mixed precision
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

    def _chunk_loop(self, h, c, prev, table, steps, temperature, top_k, seed, offset):
        # h, c: (songs, units) states after the text so far; prev: (songs,) the last
        # character of it; table: the model's input_table(), computed once per sample()
        # call. Runs up to `steps` steps, fewer once every song has drawn a blank line
        # (the end of a tune). Returns the sampled ids (steps run, songs) and the states
        # after each of them, (steps run, songs, units) each.
        logits = self.model.dense(h)
        ids_out = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        h_out = tf.TensorArray(h.dtype, size=0, dynamic_size=True)
        c_out = tf.TensorArray(c.dtype, size=0, dynamic_size=True)
        done = tf.zeros(tf.shape(prev), tf.bool)

        def body(i, logits, h, c, prev, done, ids_out, h_out, c_out):
            ids = self._draw(logits, temperature, top_k, tf.stack([seed, offset + i]))
            done = done | ((prev == self._newline) & (ids == self._newline))
            logits, (h, c) = self.model.step(ids, [h, c], table)
            ids_out, h_out, c_out = ids_out.write(i, ids), h_out.write(i, h), c_out.write(i, c)
            return i + 1, logits, h, c, ids, done, ids_out, h_out, c_out

        def going(i, logits, h, c, prev, done, *_):
            return (i < steps) & ~tf.reduce_all(done)

        loop = [tf.constant(0), logits, h, c, prev, done, ids_out, h_out, c_out]
        *_, ids_out, h_out, c_out = tf.while_loop(going, body, loop)
        return ids_out.stack(), h_out.stack(), c_out.stack()

    def _start_state(self, prime_ids):
        """``(h, c, input_table)``: the state after the prime, and the model's table.

        The state is float32 also for a mixed-precision model (whose LSTM returns
        bfloat16 or float16): `MusicRNN.step` computes in its float32 weights.
        """
        _, (h, c) = self.model(prime_ids, return_state=True)
        return tf.cast(h, tf.float32), tf.cast(c, tf.float32), self.model.input_table()

    @staticmethod
    def _draw(logits, temperature, top_k, key):
        """One categorical draw per row of ``logits`` (Gumbel-max, keyed by ``key``)."""
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
        deadline=None,
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
            deadline: a `time.monotonic` time; metrical sampling raises `PastDeadline`
                at the first chunk that starts after it (None: no deadline).

        Returns a list of strings, each the prime followed by the generated text up
        to and excluding the blank line that ends it.
        """
        prime = DEFAULT_PRIME if prime is None else prime
        if not prime:
            raise UserError("prime must be at least one character")
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
        if metrical:
            return self._sample_metrical(
                batch, prime, int(length), temperature, top_k, seed, deadline
            )
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

    def _sample_metrical(self, batch, prime, length, temperature, top_k, seed, deadline=None):
        songs = [_MetricalSong.start(prime, length) for _ in range(len(batch))]
        if not hasattr(self, "_chunk"):
            self._start = tf.function(self._start_state, reduce_retracing=True)
        h, c, table = self._start(tf.constant(batch))  # compiled: eager Keras takes ~20 ms
        if not hasattr(self, "_chunk"):
            # One trace for every number of rows (a retrace costs ~0.5 s).
            state = tf.TensorSpec([None, h.shape[-1]], h.dtype)
            scalar = tf.TensorSpec([], tf.int32)
            signature = [state, state, tf.TensorSpec([None], tf.int32)]
            signature += [tf.TensorSpec(table.shape, table.dtype), scalar]
            signature += [tf.TensorSpec([], tf.float32), scalar, scalar, scalar]
            self._chunk = tf.function(self._chunk_loop, input_signature=signature)
        for song, h_row, c_row in zip(songs, h.numpy(), c.numpy()):
            song.state = (h_row, c_row)
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
            h = np.stack([song.state[0] for song in starts])
            c = np.stack([song.state[1] for song in starts])
            prev = np.array([self.vocab.index.get(song.last_char, -1) for song in starts], np.int32)
            steps = CHUNK if len(h) > 1 else ONE_SONG_CHUNK
            ids, hs, cs = self._chunk(
                tf.constant(h),
                tf.constant(c),
                tf.constant(prev),
                table,
                tf.constant(steps),
                tf.constant(float(temperature)),
                tf.constant(top_k),
                tf.constant(int(seed), tf.int32),
                tf.constant(offset),
            )
            offset += steps
            ids, hs, cs = np.asarray(ids), np.asarray(hs), np.asarray(cs)
            first = 0
            for j in active:
                song = songs[j]
                for row in range(first, first + rows[j]):
                    trial = song.fork()
                    text = self.vocab.decode(ids[:, row])
                    trial.read(text, (hs[:, row], cs[:, row], h[row], c[row]))
                    # The first draw (in row order) not rejected at once is taken: the
                    # same choice as redrawing one row after another.
                    if not trial.rejected_at_once(song):
                        break
                    song = trial  # its tries count the rejection
                songs[j] = trial
                first += rows[j]
            active = [j for j in active if not songs[j].done]
        return [song.text for song in songs]


def _unknown_meter(line):
    """True for an ``M:`` line whose meter ABC does not know (``M:13/0``)."""
    from tfdl.music.meter import meter_length

    meter = line[2:].strip()
    return line.startswith("M:") and meter != "none" and meter_length(meter) is None


def _whole(reader):
    """True if what ``reader`` read is a whole tune: metrical, no repeat left open, and
    at least the 4 bars and 8 notes `tfdl.music.songs.check_song` asks of a song."""
    from tfdl.music.meter import verdict

    check = verdict(reader, pickup_parts=False, at_end=True)
    return check.metrical and check.bars >= 4 and reader.notes >= 8


@dataclass
class _MetricalSong:
    """One song of the metrical sampler: the accepted text and the open header line or bar.

    ``saved`` is the LSTM state ``(h, c)`` after the accepted text, where the open
    piece (``pending``) started: a rejected piece is drawn again from there. After
    `MAX_TRIES` rejections in a row the sampler backs up one more piece (the bar
    before may be what makes every next bar wrong, e.g. a ``|]`` where a ``:|`` must
    close a repeat); after `MAX_BACKTRACKS` it ends the song at its last accepted bar.
    """

    text: str
    limit: int  # the most characters the song may have
    reader: object = None  # a BarReader once the header is complete
    header: list = field(default_factory=list)
    pending: str = ""
    saved: tuple = None
    tries: int = 0
    backtracks: int = 0
    drawn: int = 0  # characters drawn, the rejected ones too
    done: bool = False
    in_bar_line: bool = False
    history: list = field(default_factory=list)  # what each accepted piece replaced
    candidate: object = None  # the reader after the piece being checked
    state: tuple = None  # the LSTM state to go on from
    redraw: bool = False  # the last read ended in a rejection
    accepted: int = 0  # pieces accepted so far

    @property
    def last_char(self):
        """The character the model last read: the end of the accepted or open text."""
        return (self.text + self.pending)[-1:]

    def fork(self):
        """A copy to try a draw on (lists copied; readers and states are never changed)."""
        return dataclasses.replace(self, header=list(self.header), history=list(self.history))

    def rejected_at_once(self, before):
        """True if this fork of ``before`` rejected its piece before accepting anything,
        and may be redrawn from the same state by the next candidate row."""
        return (
            self.redraw
            and not self.done
            and self.accepted == before.accepted
            and self.backtracks == before.backtracks
        )

    @classmethod
    def start(cls, prime, length):
        """A song that starts with ``prime``; ValueError if a metrical song cannot."""
        from tfdl.music.meter import BarError, BarReader
        from tfdl.music.songs import header_problem

        song = cls(prime, len(prime) + length)
        lines = prime.split("\n")
        key_line = next((n for n, line in enumerate(lines) if line.startswith("K:")), None)
        header = lines if key_line is None else lines[: key_line + 1]
        for line in header:
            if _unknown_meter(line):
                raise UserError(f"prime has {line.strip()}, which is no meter ABC knows")
        if key_line is None:
            if lines[-1]:
                raise UserError(
                    f"prime ends inside the header line {lines[-1]!r}: end it with a newline"
                )
            song.header = [line for line in lines[:-1] if line]
            return song
        problem = header_problem("\n".join(header))
        if problem:
            raise UserError(f"prime's header: {problem} (metrical sampling needs M: and K:)")
        body = "\n".join(lines[key_line + 1 :])
        if body.strip() and not re.search(r"[|:\]]\s*$", body):
            raise UserError(
                "prime ends in mid-bar: end it with a bar line or a newline (or sample --free)"
            )
        try:
            song.reader = BarReader.from_header(header[:-1])
            song.reader.feed(body)
        except BarError as e:
            raise UserError(f"prime has bad music: {e}") from None
        return song

    def read(self, text, states):
        """Take a chunk of drawn characters; ``self.state`` becomes the state to go on from.

        ``states`` is ``(h after each char, c after each char, h before, c before)``.
        """
        self.redraw = False
        self.state = self._read(text, states)

    def _read(self, text, states):
        hs, cs, h0, c0 = states

        def state_before(t):  # the state after char t - 1 of this chunk
            return (h0, c0) if t == 0 else (hs[t - 1], cs[t - 1])

        for t, char in enumerate(text):
            self.drawn += 1
            if self.drawn > 8 * self.limit:
                return self._finish()  # the model cannot finish: end at an accepted bar
            if self.reader is None:  # header: a piece is a line
                self.pending += char
                if char != "\n":
                    if len(self.text) + len(self.pending) >= self.limit:
                        return self._finish()
                    continue
                if not self._take_header_line(self.pending[:-1]):
                    return self._reject()
                self._accept((hs[t], cs[t]))
                continue
            # body: a piece is a bar, closed by its bar line; the piece ends at the first
            # character after the bar line (which may run on: "|", ":|", "|]", "::")
            ended = self.pending.endswith("\n") and char == "\n"
            if self.in_bar_line and char not in "|:]":
                if not self._take_bar(self.pending, at_end=False):
                    return self._reject()
                self._accept(state_before(t))
                self.in_bar_line = False
            self.pending += char
            if char in "|:" or (char == "]" and self.in_bar_line):
                self.in_bar_line = True
            if ended:
                self.pending = self.pending.rstrip("\n")
                if not self._take_bar(self.pending, at_end=True):
                    # The ending itself is rarely what is wrong (a repeat left open, too
                    # few bars): redraw the bar before it at once.
                    return self._reject(back_up=not self.pending)
                self.text += self.pending
                self.done = True
                return None
            if len(self.text) + len(self.pending) >= self.limit:
                return self._finish()  # out of room
        return hs[-1], cs[-1]

    def _take_header_line(self, line):
        from tfdl.music.meter import BarError, BarReader
        from tfdl.music.songs import header_problem

        # P: (an order of parts) asks for part labels in the body, which a character
        # model seldom follows through: such a song would end unplayable.
        if not _HEADER_LINE.fullmatch(line) or line.startswith(("X:", "P:")):
            return False
        if _unknown_meter(line):
            return False
        if line.startswith("K:"):
            header = [*self.header, line]
            if header_problem("X:1\n" + "\n".join(header)):
                return False
            try:
                self.candidate = BarReader.from_header(self.header)
            except BarError:  # e.g. L:1/86
                return False
        return True

    def _take_bar(self, piece, at_end):
        from tfdl.music.meter import BarError, verdict

        reader = self.reader.copy()
        try:
            reader.feed(piece)
            if at_end and reader.tie_pitch is not None:
                return False
        except BarError:
            return False
        if at_end and not _whole(reader):
            return False
        if not at_end and not verdict(reader, pickup_parts=False, at_end=False).metrical:
            return False
        self.candidate = reader
        return True

    def _accept(self, state):
        self.history.append((len(self.text), self.saved, self.reader, len(self.header)))
        if self.reader is None:
            self.header.append(self.pending.rstrip("\n"))
        if self.candidate is not None:
            self.reader, self.candidate = self.candidate, None
        self.text += self.pending
        self.pending = ""
        self.saved = (np.array(state[0]), np.array(state[1]))
        self.tries = 0
        self.accepted += 1

    def _finish(self):
        """End the song early, at the last accepted bar line where it is whole (no
        repeat left open, at least 4 bars), or as it is if there is none."""
        self.done = True
        ends = [(len(self.text), self.reader)]
        ends += [(length, reader) for length, _, reader, _ in reversed(self.history)]
        for length, reader in ends:
            if reader is None:
                break
            if _whole(reader):
                self.text = self.text[:length]
                break
        return None

    def _reject(self, back_up=False):
        """Throw the open piece away: the next chunk redraws it from ``saved`` (with
        ``back_up``, or after `MAX_TRIES`, the accepted piece before it too)."""
        self.tries += 1
        self.pending = ""
        self.in_bar_line = False
        self.candidate = None
        if self.tries >= MAX_TRIES or back_up:
            if self.backtracks >= MAX_BACKTRACKS or not self.history:
                return self._finish()
            length, self.saved, self.reader, headers = self.history.pop()
            self.text = self.text[:length]
            del self.header[headers:]
            self.backtracks += 1
            self.tries = 0
        self.redraw = True
        return self.saved
