"""A music model that can look back: the bars before the one it is writing, as input.

Real dance tunes restate their phrases: about half their bars recur in the same tune,
mostly four bars on (bars 5-6 of a part restate bars 1-2, then answer them with
another cadence), and a B part often ends as its A part did. A character LSTM has
to carry a whole bar in its state to repeat it, and seldom does. Magenta's Lookback
RNN gives the model, beside the current event, what came at the same position one
and two bars ago; repeating a bar then takes no memory. In the shipped corpus a bar's
text equals the bar 1 back in 0.5 % of bars, 2 back in 3.8 %, 4 back in 11 %, the
same bar of the part before in 6.5 % (any of the 16 before: 23 %), so `LookbackRNN`
offers three things for each next character:

- **the phrase offer:** the character at the same position ``phrase_bars`` (4) bars
  back, where a restatement starts;
- **the match offer:** the next character of the latest of the last ``bars`` (16)
  bars that began as the bar being written has so far (the whole prefix, at least
  one character): once a bar has started to restate an earlier one, at any distance,
  the offer follows it to the end, and a variation drops it;
- **the part offer:** the character at the same position of the same bar of the
  part before: bar *i* of a B part is offered bar *i* of the A part. A part closes at
  ``:|``, ``||`` or ``|]``; a ``:|`` followed by an ending number closed a first
  ending, so a second ending's bar takes the first ending's place. Written bars
  count, so the distance is the A part's written length, its pickup and both
  endings included.

With ``notes`` (new models), the same three offers come again **by notes**: the
next note's letter, at the same note index of the bar four back, of the latest bar
whose notes so far are the bar's notes so far, and of the same bar of the part
before. In the corpus 48 % of bars repeat another bar's pitches but only 24 % its
text: a restatement with other note lengths, spacing, beaming or octave marks loses
the text offers at its first difference and keeps the note offers. A note is what
the clock reads as one (not in quotes, a decoration, grace notes or an inline field;
a chord's first note), less rests; the note's repeat flag says whether the last note
was the one offered, and holds until the next note.

`BarLookback` reads the characters as they go and keeps the bars by position: a bar
line ``|`` closes a bar that has anything in it (``||`` closes one); a line break
starts the bar's text again; the bar-line run ``:`` ``[1`` and spaces at a bar's
start hold no position, so ``|:ABc`` and ``|ABc`` align; a blank line (the end of a
tune) forgets every bar. Beside each offer it says whether the character just read
was the one offered, and (``counters``, on in new models) where in the form the next
character falls: the bar's number in its part and the place in the bar. `LookbackRNN`
embeds the offers (narrower than the character: ``OFFER_DIM``) and the counters
(``COUNTER_DIM``) beside the character and feeds all of it to the same LSTM as
`MusicRNN`. Its state is `MusicRNN`'s ``[h, c]`` plus the lookback's (an int32 row
per song), so the samplers carry it as they carry ``h`` and ``c``.

With ``copy`` (new models), each offer also goes straight to the output: a gate read
from h (`LookbackRNN`'s ``copy_gates``, one number per offer) is added to the logit of
the character that offer names. Through the LSTM alone, following an offer means
carrying the offered character's identity from the input to the right output row;
the gate makes it one number, "how much to trust this offer now", as a pointer or
copy network does. Measured on the 800-tune pilot at equal steps (LSTM 256, 1,400
steps; `tfdl music report --num-songs 100`, seeds 1 and 2), repeated bars in form
mode: 23.3 / 21.3 % with the text offers, 23.1 % with note offers too, 28.3 / 27.7 %
with note offers and copy gates; held-out loss 1.135, 1.116, 1.097 nats/char.

Why offers and not attention over past states: an offer is exact (the character
itself), cheap (no weights, a few comparisons per step) and keeps the model an LSTM
that runs on cuDNN; the sampler needs only the state to grow.

One implementation of the reading serves training and generation: `BarLookback.step`
advances one character, in sampling step by step and over a text in a ``tf.while_loop``.
Training reads the offers of its whole training text once (`text_offers`) and cuts
them beside each window, so a window in the middle of a tune has the offers the
sampler would have there; read from the window alone, the part offer would almost
never come (a window is 100 characters, a part about 120).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfdl.music.model import MusicRNN

# Characters of a bar the lookback keeps: a bar's 33rd character has no offer. Bars
# of the corpus are 5 to 25 characters long.
BAR_CHARS = 32
# Bars kept for the match and part offers: two parts of 8 bars, so a B part can
# follow its A part (bars the same text as one 16 or fewer back: 23 % of the corpus's
# bars, 8 or fewer: 18 %).
BARS = 16
# The phrase offer's distance: where restatements mostly start (see the docstring).
PHRASE_BARS = 4
# Characters that hold no position at a bar's start: repeat marks, ending numbers,
# spaces, and "[" of "[1" (also of a chord "[DA]", consistently in every bar).
SKIP_CHARS = ": []123"
# Ending numbers: after a ":|" one of these makes it a first ending's close (":|2"),
# not the end of a part.
ENDING_CHARS = "123"
# The width of each offer's embedding: an offer is a hint, not a character to read
# twice over, and three offers as wide as the character's embedding would triple the
# LSTM's input (most of a step's time).
OFFER_DIM = 32
# Whether new models add each offer to its character's logit through a gate read from
# h (`LookbackRNN`'s ``copy``).
COPY_OFFERS = True
# The width of the embeddings of the counters (the bar's number in its part, the
# place in the bar, the clock): a few dozen values each.
COUNTER_DIM = 8
# The clock counts time in the bar in 1/CLOCK_TICKS of the unit note length (L:):
# 24 holds halves, quarters, eighths and triplets exactly. It gives the model the
# time in half units, up to CLOCK_MAX (a 12/8 bar in eighths is 24 of them).
CLOCK_TICKS = 24
CLOCK_MAX = 48
# The clock's classes of characters (`clock_classes`): what each does to the time.
(OTHER, NOTE, SLASH, LONGER, SHORTER, PAREN, QUOTE, BANG, GRACE, GRACE_END, BRACKET,
 BRACKET_END, BAR, NEWLINE, LETTER, KEEP, BACKSLASH) = range(17)  # fmt: skip
DIGIT = 20  # DIGIT + d: the digit d
CLOCK_STATE = 11  # the clock's columns of the state (see `BarLookback._clock_step`)
# What each class opens in the clock's reading (`BarLookback._clock_step`'s modes):
# quotes 1, a decoration 2, grace notes 3, "[" 5, "(" 7; any other class 0 (music).
CLOCK_OPENS = tuple({QUOTE: 1, BANG: 2, GRACE: 3, BRACKET: 5, PAREN: 7}.get(c, 0)
                    for c in range(DIGIT + 10))  # fmt: skip
# Notes of a bar the note memory keeps (``notes``): a reel's bar has 8, a run of
# sixteenths 16.
NOTE_SLOTS = 16
# A tuplet (p: p notes in the time of q): q for p = 0..9, as abc2midi reads a simple
# meter (compound meters give 5, 7 and 9 notes the time of 3: rare in dance tunes).
TUPLET_Q = (1, 1, 3, 2, 3, 2, 2, 2, 3, 2)


@keras.saving.register_keras_serializable(package="tfdl")
class BarLookback(keras.layers.Layer):
    """Offers, for each next character, the phrase and match offers (and the part offer).

    No weights: a deterministic reading of the character ids (see the module
    docstring). The state is one int32 row per sequence, ``(bars + 1) * bar_chars +
    11`` wide: the last ``bars`` bars, most recent first, and the current one
    (character ids + 1, 0 = none); the position in the bar, whether only skipped
    characters have come since the bar line, the last three offers, the last
    character; then the part count: the bars written in the previous part and in
    this one, the same two before the last part's close (a ":|" that turns out to be
    a first ending's takes them back), and whether a part has just closed.

    Args:
        bar_id: int, the id of ``|``.
        newline_id: int, the id of ``\\n``.
        skip_ids: list of ints, ids of characters holding no position at a bar's start.
        bar_chars: int, characters kept per bar.
        bars: int, bars kept for the match offer (and the part offer's reach).
        phrase_bars: int, the phrase offer's distance in bars (at most ``bars``).
        part_offer: bool, whether to offer the bar at the same place in the part
            before.
        colon_id, end_id: int or None, the ids of ``:`` and ``]`` (None: not in
            the vocabulary).
        ending_ids: list of ints, the ids of the ending numbers (``ENDING_CHARS``).
        counters: bool, whether to give, after the offers and repeats, the bar's
            number in its part (up to ``bars + 1``) and the place in the bar (up to
            ``bar_chars``): where in the form the next character falls.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> lookback = BarLookback(**lookback_for(vocab))
    >>> offers, state = lookback(ids)  # ids: (batch, time) int32
    >>> offers.shape  # (batch, time, 6): phrase, match, part offers (id + 1), 3 repeats
    """

    def __init__(self, bar_id, newline_id, skip_ids=(), bar_chars=BAR_CHARS, bars=BARS,
                 phrase_bars=PHRASE_BARS, part_offer=False, colon_id=None, end_id=None,
                 ending_ids=(), counters=False, clock_classes=None, notes=False, rest_ids=(),
                 **kwargs):  # fmt: skip
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
        self.part_offer = bool(part_offer)
        self.colon_id = -1 if colon_id is None else int(colon_id)  # -1: no character
        self.end_id = -1 if end_id is None else int(end_id)
        self.ending_ids = [int(i) for i in ending_ids]
        self.counters = bool(counters)
        self.clock_classes = None if clock_classes is None else [int(c) for c in clock_classes]
        self.clock = self.clock_classes is not None
        if self.clock and not self.counters:
            raise ValueError("BarLookback's clock is a counter: it needs counters=True")
        self.notes = bool(notes)
        self.rest_ids = [int(i) for i in rest_ids]
        if self.notes and not self.clock:
            raise ValueError("BarLookback's note offers read notes with the clock: they need it")
        self.text_offers = 3 if self.part_offer else 2  # phrase, match (and part)
        # an offer and a repeat flag each: the text's, then (notes) the same by notes
        self.offers = self.text_offers * (2 if self.notes else 1)
        self.width = 2 * self.offers + (2 if self.counters else 0) + int(self.clock)
        # the state's columns: the text's bars and scalars, the clock's, the notes'
        self._clock_at = (self.bars + 1) * self.bar_chars + 11
        self._notes_at = self._clock_at + (CLOCK_STATE if self.clock else 0)
        self.state_size = self._notes_at
        if self.notes:  # the note memory: the bars' notes and the current bar's, its
            # count of notes, the last offers and repeats
            self.state_size += (self.bars + 1) * NOTE_SLOTS + 1 + 2 * self.text_offers

    def initial_state(self, batch):
        return tf.zeros([batch, self.state_size], tf.int32)

    def offered(self, state):
        """The offers' codes a ``state`` holds (batch, self.offers): those `step` gave
        with it, for the character after the last one read."""
        t = self.text_offers
        base = (self.bars + 1) * self.bar_chars  # the text's scalars: rank, lead, offers
        codes = [state[:, base + 2 + j] for j in range(t)]  # phrase, match, part
        if self.notes:  # after the note bars and the note count
            at = self._notes_at + (self.bars + 1) * NOTE_SLOTS + 1
            codes += [state[:, at + j] for j in range(t)]
        return tf.stack(codes, axis=-1)

    def _is_any(self, ids, chosen):
        found = tf.zeros_like(ids, tf.bool)
        for chosen_id in chosen:
            found |= ids == chosen_id
        return found

    def step(self, ids, state):
        """Read ``ids`` (batch,): ``(offers (batch, self.width) int32, new state)``.

        ``offers`` are, for the character after ``ids``: the phrase, match (and
        part) offers (id + 1; 0: none), then whether ``ids`` was what each had
        offered (1 or 0), then with ``counters`` the bar's number in its part and
        the place in the bar.
        """
        n, k = self.bar_chars, self.bars
        batch = tf.shape(ids)[0]
        ids = tf.cast(ids, tf.int32)
        bars = tf.reshape(state[:, : k * n], [batch, k, n])  # most recent first
        cur = state[:, k * n : (k + 1) * n]
        scalars = [state[:, (k + 1) * n + j] for j in range(11)]
        rank, lead, last_phrase, last_match, last_part, last = scalars[:6]
        part_bars, bars_in_part, saved_part_bars, saved_bars_in_part, just_closed = scalars[6:]
        code = ids + 1  # stored codes: 0 means none, so no code equals a missing offer
        took = [tf.cast(offer == code, tf.int32) for offer in (last_phrase, last_match, last_part)]
        is_bar = ids == self.bar_id
        is_newline = ids == self.newline_id
        blank_line = is_newline & (last == self.newline_id + 1)  # between tunes
        held = (lead > 0) & self._is_any(ids, self.skip_ids)  # bar-line run: no position
        counted = ~(is_bar | is_newline | held)
        shift = is_bar & (lead == 0)  # "||" or "|\n|" closes no empty bar
        restart = is_bar | is_newline
        new_lead = tf.where(restart, 1, tf.where(counted, 0, lead))
        # the part count: a part closes at ":|", "||" or "|]" after a bar with music;
        # a ":|" followed by an ending number closed a first ending, not the part
        bars_in_part = bars_in_part + tf.cast(shift, tf.int32)
        after_bar = (lead > 0) & (last == self.bar_id + 1)
        close = is_bar & ((last == self.colon_id + 1) | after_bar)
        close |= (ids == self.end_id) & after_bar
        close &= bars_in_part > 0
        ending = (just_closed > 0) & held & self._is_any(ids, self.ending_ids)
        new_saved = [
            tf.where(close, now, saved)
            for now, saved in ((part_bars, saved_part_bars), (bars_in_part, saved_bars_in_part))
        ]
        new_part_bars = tf.where(close, bars_in_part, tf.where(ending, saved_part_bars, part_bars))
        new_bars_in_part = tf.where(close, 0, tf.where(ending, saved_bars_in_part, bars_in_part))
        new_just_closed = tf.where(close, 1, tf.where(counted | ending, 0, just_closed))
        forget = tf.where(blank_line, 0, 1)  # a new tune has no part before
        new_part_bars, new_bars_in_part, new_just_closed = (
            v * forget for v in (new_part_bars, new_bars_in_part, new_just_closed)
        )
        # the part offer: the bar as far back as the part before was long
        reach = (new_part_bars > 0) & (new_part_bars <= k)
        back = tf.clip_by_value(new_part_bars - 1, 0, k - 1)
        moves = (shift, restart, blank_line, reach, back)
        new_bars, new_cur, new_rank, (phrase, match, part) = self._bar_memory(
            bars, cur, rank, code, counted, *moves
        )
        if not self.part_offer:
            part = tf.zeros_like(part)
        new_state = tf.concat(
            [
                tf.reshape(new_bars, [batch, k * n]),
                new_cur,
                tf.stack(
                    [
                        new_rank,
                        new_lead,
                        phrase,
                        match,
                        part,
                        code,
                        new_part_bars,
                        new_bars_in_part,
                        *new_saved,
                        new_just_closed,
                    ],
                    axis=-1,
                ),
            ],
            axis=-1,
        )
        t = self.text_offers
        codes, repeats = [phrase, match, part][:t], took[:t]
        if self.clock:
            clock = state[:, self._clock_at : self._notes_at]
            time, clock_state, note = self._clock_step(ids, clock, is_bar, is_newline)
            new_state = tf.concat([new_state, clock_state], axis=-1)
        if self.notes:
            sounded = note & ~self._is_any(ids, self.rest_ids)
            note_codes, note_repeats, notes_state = self._note_step(
                code, state[:, self._notes_at :], sounded, moves
            )
            codes, repeats = codes + note_codes, repeats + note_repeats
            new_state = tf.concat([new_state, notes_state], axis=-1)
        offers = codes + repeats
        if self.counters:
            offers += [tf.minimum(new_bars_in_part, k + 1), new_rank]
        if self.clock:
            offers.append(time)
        return tf.stack(offers, axis=-1), new_state

    def _bar_memory(self, bars, cur, rank, code, wrote, shift, restart, blank_line, reach, back):
        """One bar memory (the text's, or the notes') read one character on. ``bars``
        (batch, bars, width): the last bars, most recent first; ``cur`` (batch, width)
        the bar being written, ``rank`` its length; ``code`` goes in at ``rank`` where
        ``wrote``. A bar line that closes a bar (``shift``) keeps it, a bar line or
        line break (``restart``) starts a new one, a blank line forgets them all.
        Returns the new ``bars``, ``cur`` and ``rank``, and the phrase, match and part
        offers: what follows at ``rank`` in the bar ``phrase_bars`` back, in the latest
        bar that began as ``cur`` has so far, and in the bar ``back`` back (where
        ``reach``)."""
        width = cur.shape[-1]
        slot = tf.one_hot(rank, width, dtype=tf.int32) * tf.cast(wrote, tf.int32)[:, None]
        written = cur * (1 - slot) + code[:, None] * slot
        shifted = tf.concat([cur[:, None, :], bars[:, :-1, :]], axis=1)
        new_bars = tf.where(shift[:, None, None], shifted, bars)
        new_bars = tf.where(blank_line[:, None, None], tf.zeros_like(bars), new_bars)
        new_cur = tf.where(restart[:, None], tf.zeros_like(cur), written)
        new_rank = tf.where(restart, 0, tf.minimum(rank + tf.cast(wrote, tf.int32), width))
        at = tf.one_hot(new_rank, width, dtype=tf.int32)  # rank width (bar full): all zeros
        following = tf.reduce_sum(new_bars * at[:, None, :], axis=-1)  # (batch, bars)
        phrase = following[:, self.phrase_bars - 1]
        # the latest bar whose first new_rank codes are the current bar's
        prefix = tf.range(width)[None, :] < new_rank[:, None]  # (batch, width)
        same = tf.reduce_all((new_bars == new_cur[:, None, :]) | ~prefix[:, None, :], axis=-1)
        same &= (new_rank > 0)[:, None] & (following > 0)  # (batch, bars)
        latest = tf.argmax(tf.cast(same, tf.int32), axis=-1, output_type=tf.int32)
        found = tf.reduce_any(same, axis=-1)
        match = tf.where(found, tf.gather(following, latest, batch_dims=1), 0)
        part = tf.where(reach, tf.gather(following, back, batch_dims=1), 0)
        return new_bars, new_cur, new_rank, (phrase, match, part)

    def _note_step(self, code, notes, sounded, moves):
        """The note memory read one character on: the phrase, match (and part) offers
        by notes (the next note's letter, as its id + 1: a bar restated with other note
        lengths, spacing or octave marks still offers its notes), whether the last note
        written was each one's, and the new note state. Its bars shift, restart and are
        forgotten as the text's do, and the part offer reaches as far (``moves``: the
        text's, see `_bar_memory`)."""
        m, k, t = NOTE_SLOTS, self.bars, self.text_offers
        batch = tf.shape(code)[0]
        bars = tf.reshape(notes[:, : k * m], [batch, k, m])  # most recent first
        cur = notes[:, k * m : (k + 1) * m]
        rank = notes[:, (k + 1) * m]
        last_offers = [notes[:, (k + 1) * m + 1 + j] for j in range(t)]
        last_repeats = [notes[:, (k + 1) * m + 1 + t + j] for j in range(t)]
        _, _, blank_line, _, _ = moves  # shift, restart, blank_line, reach, back
        # a note: was it the one each offer offered? (kept until the next note, or the
        # next tune)
        repeats = [
            tf.where(sounded, tf.cast(offer == code, tf.int32), tf.where(blank_line, 0, was))
            for offer, was in zip(last_offers, last_repeats)
        ]
        new_bars, new_cur, new_rank, offers = self._bar_memory(
            bars, cur, rank, code, sounded, *moves
        )
        offers = list(offers[:t])
        state = tf.concat(
            [tf.reshape(new_bars, [batch, k * m]), new_cur,
             tf.stack([new_rank, *offers, *repeats], axis=-1)], axis=-1,
        )  # fmt: skip
        return offers, repeats, state

    def _clock_step(self, ids, clock, is_bar, is_newline):
        """The clock read one character on: ``(time in the bar in half units, new
        clock state, whether the character is a note or rest of the music)``. The
        state: the bar's time so far and the last note's length (in ticks), the note's
        length before its digits and slashes, its digits
        (numerator, slashes, denominator), whether they may still come, what the
        reading is inside (0: music; 1 quotes, 2 a decoration, 3 grace notes, 4 a
        chord, 5 just after "[", 6 an inline field, 7 just after "(", 8 just after a
        "\\" that continues the bar on the next line), the notes left in a tuplet and
        its p, and a broken rhythm's hold on the next note (1: half, 2: one and a
        half)."""
        elapsed, length, base, num, slashes, den, in_note, mode, left, p, broken = (
            clock[:, j] for j in range(CLOCK_STATE)
        )
        was_note = in_note > 0  # the last note's digits may still come
        kind = tf.gather(tf.constant(self.clock_classes, tf.int32), ids)
        digit = kind - DIGIT
        is_digit = kind >= DIGIT
        music = (mode == 0) | (mode == 5) | (mode == 7)  # where a note counts
        # a note: its length is one unit, in a tuplet q/p of it, after ">" half of it
        note = (kind == NOTE) & music
        q = tf.gather(tf.constant(TUPLET_Q, tf.int32), tf.clip_by_value(p, 0, 9))
        unit = tf.where(left > 0, CLOCK_TICKS * q // tf.maximum(p, 1), CLOCK_TICKS)
        unit = tf.where(broken == 1, unit // 2, tf.where(broken == 2, unit * 3 // 2, unit))
        # the note's digits and slashes: "A3", "A/", "A//", "A3/2"
        written = was_note & ((mode == 0) | (mode == 4)) & ~note
        more = written & is_digit & (slashes == 0)
        under = written & is_digit & (slashes > 0)
        num = tf.where(more, num * 10 + digit, num)
        den = tf.where(under, den * 10 + digit, den)
        slashes = tf.where(written & (kind == SLASH), slashes + 1, slashes)
        top = base * tf.maximum(num, 1)
        scaled = tf.where(
            slashes == 0,
            top,
            tf.where(den > 0, top // tf.maximum(den, 1), tf.bitwise.right_shift(top, slashes)),
        )
        shaped = written & (is_digit | (kind == SLASH))
        elapsed = tf.where(shaped, elapsed + scaled - length, elapsed)
        length = tf.where(shaped, scaled, length)
        # a broken rhythm: "A>B" is A one and a half, B half; "A<B" the other way
        longer, shorter = (kind == LONGER) & (mode == 0), (kind == SHORTER) & (mode == 0)
        elapsed = tf.where(longer, elapsed + length // 2, elapsed)
        elapsed = tf.where(shorter, elapsed - length // 2, elapsed)
        length = tf.where(longer, length * 3 // 2, tf.where(shorter, length // 2, length))
        broken = tf.where(longer, 1, tf.where(shorter, 2, tf.where(note, 0, broken)))
        # a new note
        elapsed = tf.where(note, elapsed + unit, elapsed)
        length = tf.where(note, unit, length)
        base = tf.where(note, unit, base)
        num, slashes, den = (tf.where(note, 0, v) for v in (num, slashes, den))
        left = tf.where(note & (left > 0), left - 1, left)
        # a tuplet: "(3" right after "("
        tuplet = (mode == 7) & is_digit
        left = tf.where(tuplet, digit, left)
        p = tf.where(tuplet, digit, p)
        # a chord's end: its digits scale the chord ("[CEG]2"), as the first note's
        chord_end = (mode == 4) & (kind == BRACKET_END)
        base = tf.where(chord_end, length, base)
        num, slashes, den = (tf.where(chord_end, 0, v) for v in (num, slashes, den))
        keep = was_note & ((kind == KEEP) | is_digit | (kind == SLASH))  # "A,2", "c'/"
        in_note = tf.where(note | chord_end | keep & ((mode == 0) | (mode == 4)), 1, 0)
        in_note = tf.where((mode == 4) & (kind == NOTE), 0, in_note)  # a chord's other notes
        # what the reading is inside next
        opens = tf.gather(tf.constant(CLOCK_OPENS, tf.int32), kind)
        closes = {1: QUOTE, 2: BANG, 3: GRACE_END, 4: BRACKET_END, 6: BRACKET_END}
        new_mode = opens  # music, "[" and "(" go on to whatever this character opens
        for inside, end in closes.items():
            new_mode = tf.where(mode == inside, tf.where(kind == end, 0, inside), new_mode)
        after_bracket = tf.where(
            kind == NOTE, 4, tf.where(kind == LETTER, 6, tf.where(kind == KEEP, 5, opens))
        )  # "[CEG]" a chord, "[K:G]" a field, "[1" an ending
        new_mode = tf.where(mode == 5, after_bracket, new_mode)
        new_mode = tf.where((kind == BACKSLASH) & music, 8, new_mode)
        in_note = tf.where(mode == 5, tf.where(kind == NOTE, 1, 0), in_note)
        held = tf.stack([elapsed, length, base, num, slashes, den, in_note, new_mode, left, p,
                         broken], axis=-1)  # fmt: skip
        # a bar line starts the bar's time again, and so does a new line (the header's
        # fields, a line of music), unless a "\\" continued the bar onto it
        reset = is_bar | (is_newline & (mode != 8))
        continued = (is_newline & (mode == 8))[:, None]  # all as it was, back in the music
        held = tf.where(continued, clock * tf.one_hot(7, CLOCK_STATE, 0, 1, dtype=tf.int32), held)
        clock = tf.where(reset[:, None], tf.zeros_like(held), held)
        time = tf.clip_by_value(clock[:, 0] * 2 // CLOCK_TICKS, 0, CLOCK_MAX)
        return time, clock, note

    @tf.function(reduce_retracing=True)
    def _scan(self, ids, state):
        # a while loop, not tf.scan: scan would keep every step's state, (time, batch,
        # state_size) int32, 4.5 GB for the training text read 256 tunes at a time
        steps = tf.shape(ids)[1]

        def advance(t, state, offers):
            offered, state = self.step(ids[:, t], state)
            return t + 1, state, offers.write(t, offered)

        offers = tf.TensorArray(tf.int32, size=steps, element_shape=[None, self.width])
        _, state, offers = tf.while_loop(
            lambda t, *_: t < steps, advance, (tf.constant(0), state, offers)
        )
        return tf.transpose(offers.stack(), [1, 0, 2]), state  # (batch, time, width)

    def call(self, inputs, initial_state=None):
        """``(offers (batch, time, self.width), final state)`` for ids ``(batch, time)``."""
        ids = tf.cast(inputs, tf.int32)
        state = self.initial_state(tf.shape(ids)[0]) if initial_state is None else initial_state
        offers, state = self._scan(ids, state)  # compiled also when called eagerly
        # the loop's TensorArray loses the static batch size: give back what ids have
        offers = tf.ensure_shape(offers, [*ids.shape, self.width])
        return offers, tf.ensure_shape(state, [ids.shape[0], self.state_size])

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.width), (input_shape[0], self.state_size)

    def get_config(self):
        return {
            **super().get_config(),
            "bar_id": self.bar_id,
            "newline_id": self.newline_id,
            "skip_ids": self.skip_ids,
            "bar_chars": self.bar_chars,
            "bars": self.bars,
            "phrase_bars": self.phrase_bars,
            "part_offer": self.part_offer,
            "colon_id": None if self.colon_id < 0 else self.colon_id,
            "end_id": None if self.end_id < 0 else self.end_id,
            "ending_ids": self.ending_ids,
            "counters": self.counters,
            "clock_classes": self.clock_classes,
            "notes": self.notes,
            "rest_ids": self.rest_ids,
        }


def text_offers(layer, ids, chunks=256):
    """`BarLookback` ``layer``'s offers for every character of a text: ``(len(ids),
    layer.width)`` int32, the same as one pass over the whole text gives.

    Training windows start anywhere in a tune; with these offers cut beside them
    (`tfdl.music.dataset.random_windows`'s ``side``) each window's offers are those
    of the whole tune before it, as in sampling, not of the window alone. The text is
    read as ``chunks`` sequences at once, each a run of whole tunes: a tune starts
    after a blank line, where the reading forgets everything before it.
    """
    ids = np.asarray(ids, np.int32)
    newline = ids == layer.newline_id
    starts = np.flatnonzero(newline[:-1] & newline[1:]) + 2  # after each blank line
    starts = [0, *(int(s) for s in starts if s < len(ids))]
    size = max(1, -(-len(ids) // chunks))  # characters a chunk aims at
    bounds, begin = [0], 0
    for at in starts[1:]:
        if at - begin >= size:
            bounds.append(at)
            begin = at
    bounds.append(len(ids))
    pieces = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    length = max(len(p) for p in pieces)
    batch = np.full((len(pieces), length), layer.newline_id, np.int32)  # padded at the end
    for row, piece in enumerate(pieces):
        batch[row, : len(piece)] = piece
    offers, _ = layer(batch)
    offers = offers.numpy()
    return np.concatenate([offers[row, : len(p)] for row, p in enumerate(pieces)])


def counter_sizes(bars, bar_chars, clock=False):
    """How many values each `BarLookback` counter takes: the bar's number in its part
    (0 to ``bars + 1``), the place in the bar (0 to ``bar_chars``), and with ``clock``
    the time in the bar (0 to ``CLOCK_MAX`` half units)."""
    return (bars + 2, bar_chars + 1) + ((CLOCK_MAX + 1,) if clock else ())


def clock_classes(chars):
    """The clock's class of each character of ``chars`` (a vocabulary's, in id order)."""
    special = {"/": SLASH, ">": LONGER, "<": SHORTER, "(": PAREN, '"': QUOTE, "!": BANG,
               "{": GRACE, "}": GRACE_END, "[": BRACKET, "]": BRACKET_END, "|": BAR,
               "\n": NEWLINE, "\\": BACKSLASH}  # fmt: skip
    classes = []
    for char in chars:
        if char in "ABCDEFGabcdefgzx":
            classes.append(NOTE)
        elif char.isdigit() and char.isascii():
            classes.append(DIGIT + int(char))
        elif char in special:
            classes.append(special[char])
        elif char.isalpha():
            classes.append(LETTER)
        elif char in ",'^_=":  # octave marks keep a note's digits coming; accidentals
            classes.append(KEEP)  # (before a note, or after "[") change no time
        else:
            classes.append(OTHER)
    return classes


def lookback_for(vocab, bar_chars=BAR_CHARS, bars=BARS, phrase_bars=PHRASE_BARS, part_offer=True,
                 counters=True, clock=True, notes=True):  # fmt: skip
    """The `BarLookback` settings for ``vocab`` (a `Vocabulary` with ``|`` and a newline).
    ``notes`` (which needs ``counters`` and ``clock``) adds the offers by notes."""
    missing = [c for c in "|\n" if c not in vocab.index]
    if missing:
        raise ValueError(f"a lookback model needs {missing!r} in its vocabulary")
    settings = {
        "bar_id": vocab.index["|"],
        "newline_id": vocab.index["\n"],
        "skip_ids": [vocab.index[c] for c in SKIP_CHARS if c in vocab.index],
        "bar_chars": bar_chars,
        "bars": bars,
        "phrase_bars": phrase_bars,
    }
    if part_offer:
        settings.update(
            part_offer=True,
            colon_id=vocab.index.get(":"),  # None: no part closes that way
            end_id=vocab.index.get("]"),
            ending_ids=[vocab.index[c] for c in ENDING_CHARS if c in vocab.index],
        )
    if counters:
        settings["counters"] = True
        if clock:
            settings["clock_classes"] = clock_classes(vocab.chars)
    if notes:
        if "clock_classes" not in settings:
            raise ValueError("the lookback's note offers read notes with the clock: they need it")
        settings.update(notes=True, rest_ids=[vocab.index[c] for c in "zx" if c in vocab.index])
    return settings


@keras.saving.register_keras_serializable(package="tfdl")
class LookbackRNN(MusicRNN):
    """`MusicRNN` whose LSTM also reads the lookback's offers (see the module docstring).

    The offers share an embedding of ``offer_dim`` (row 0: no offer); the repeats
    (was the last character the one offered) go in as 0/1. The state is ``[h, c,
    lookback]``.

    Args:
        vocab_size, embedding_dim, rnn_units, dropout: as `MusicRNN`.
        lookback: dict of `BarLookback` arguments (see `lookback_for`).
        offer_dim: int, the offers' embedding width (None: ``embedding_dim``, as the
            first lookback models had).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = LookbackRNN(vocab_size=94, rnn_units=640, lookback=lookback_for(vocab))
    >>> logits, [h, c, lookback] = model(ids, return_state=True)
    """

    def __init__(self, vocab_size, embedding_dim=256, rnn_units=1024, dropout=0.0, *,
                 lookback, offer_dim=None, copy=False, **kwargs):  # fmt: skip
        super().__init__(vocab_size, embedding_dim, rnn_units, dropout, **kwargs)
        self.lookback_config = dict(lookback)
        self.lookback = BarLookback(**self.lookback_config)
        self.offer_dim = self.embedding_dim if offer_dim is None else int(offer_dim)
        self.offer_embedding = keras.layers.Embedding(self.vocab_size + 1, self.offer_dim)
        # the LSTM reads: the character, each offer, each offer's repeat (and the counters)
        self.offers = self.lookback.offers
        # the copy gates (``copy``): from h, how much each offer adds to the logit of the
        # character it offers, so following an offer takes no more than one weight
        self.copy = bool(copy)
        self.copy_gates = keras.layers.Dense(self.offers, dtype="float32") if self.copy else None
        self.input_dim = self.embedding_dim + self.offers * (self.offer_dim + 1)
        self.counter_embeddings = []
        if self.lookback.counters:  # the bar in its part, the place in the bar (the clock)
            lookback = self.lookback
            sizes = counter_sizes(lookback.bars, lookback.bar_chars, lookback.clock)
            self.counter_embeddings = [keras.layers.Embedding(n, COUNTER_DIM) for n in sizes]
            self.input_dim += len(sizes) * COUNTER_DIM

    def build(self, input_shape=(None, None)):
        batch, time = input_shape[0], input_shape[1]
        self.embedding.build((batch, time))
        self.offer_embedding.build((batch, time))
        for embedding in self.counter_embeddings:
            embedding.build((batch, time))
        self.lstm.build((batch, time, self.input_dim))
        self.dense.build((batch, time, self.rnn_units))
        if self.copy:
            self.copy_gates.build((batch, time, self.rnn_units))

    def _logits(self, x, codes):
        # x: (..., units) the LSTM's output; codes: (..., offers) the offers for the
        # next character (id + 1, 0: none) -> the logits (..., vocab)
        logits = self.dense(x)
        if not self.copy:
            return logits
        gates = self.copy_gates(x)  # (..., offers)
        for j in range(self.offers):  # one_hot's column 0 is "no offer": dropped
            offered = ops.one_hot(codes[..., j], self.vocab_size + 1, dtype=logits.dtype)
            logits = logits + gates[..., j : j + 1] * offered[..., 1:]
        return logits

    def state_logits(self, state):
        """The logits for the character after a ``state`` ``[h, c, lookback]``."""
        return self._logits(state[0], self.lookback.offered(state[2]))

    def _inputs(self, chars, offers):
        # chars: (..., ) ids; offers: (..., width) from BarLookback -> (..., input_dim)
        n = self.offers
        return ops.concatenate(
            [
                self.embedding(chars),
                *(self.offer_embedding(offers[..., j]) for j in range(n)),
                ops.cast(offers[..., n : 2 * n], self.embedding.compute_dtype),
                *(e(offers[..., 2 * n + j]) for j, e in enumerate(self.counter_embeddings)),
            ],
            axis=-1,
        )

    def call(self, inputs, initial_state=None, return_state=False, training=False):
        """``inputs``: character ids ``(batch, time)``, or ``(ids, offers)`` with the
        offers already read (`text_offers`, cut as training windows); then there is
        no lookback state to return."""
        lstm_state, lookback_state = None, None
        if initial_state is not None:
            lstm_state, lookback_state = initial_state[:2], initial_state[2]
        if isinstance(inputs, (tuple, list)):
            if return_state:
                raise ValueError("LookbackRNN returns its state only when it reads the offers")
            inputs, offers = inputs
        else:
            offers, lookback_state = self.lookback(inputs, lookback_state)
        x = self.input_dropout(self._inputs(inputs, offers), training=training)
        x, h, c = self.lstm(x, initial_state=lstm_state, training=training)
        x = self.output_dropout(x, training=training)
        logits = self._logits(x, offers[..., : self.offers])  # (batch, time, vocab)
        if return_state:
            return logits, [h, c, lookback_state]
        return logits

    def input_table(self):
        """The LSTM input contribution of each character, then of each offer's codes,
        then of each counter's values, then of the repeats: ``(vocab + offers * (vocab
        + 1) + counter values + offers, 4 * units)``. A step sums one row per character,
        offer and counter, and the repeats' rows."""
        kernel, bias = self.lstm.cell.kernel, self.lstm.cell.bias
        n, dim, offer_dim = self.offers, self.embedding_dim, self.offer_dim
        offers = self.offer_embedding.embeddings
        rows = [ops.matmul(self.embedding.embeddings, kernel[:dim]) + bias]
        rows += [
            ops.matmul(offers, kernel[dim + j * offer_dim : dim + (j + 1) * offer_dim])
            for j in range(n)
        ]
        repeats = dim + n * offer_dim  # the kernel's rows for the repeats, then counters'
        at = repeats + n
        for embedding in self.counter_embeddings:
            rows.append(ops.matmul(embedding.embeddings, kernel[at : at + COUNTER_DIM]))
            at += COUNTER_DIM
        rows.append(kernel[repeats : repeats + n])
        return ops.concatenate(rows, axis=0)

    def step(self, char_ids, state, input_table=None, recurrent_blocks_t=None):
        """`MusicRNN.step` with the lookback read first; ``state`` is ``[h, c, lookback]``."""
        table = self.input_table() if input_table is None else input_table
        h, c, lookback_state = state
        offers, lookback_state = self.lookback.step(char_ids, lookback_state)
        n, vocab = self.offers, self.vocab_size
        rows = [char_ids, *(vocab + j * (vocab + 1) + offers[:, j] for j in range(n))]
        start = vocab + n * (vocab + 1)  # the counters' rows
        for j, embedding in enumerate(self.counter_embeddings):
            rows.append(start + offers[:, 2 * n + j])
            start += embedding.input_dim
        repeats = ops.cast(offers[:, n : 2 * n], table.dtype)  # (batch, offers)
        rows = ops.stack(rows, axis=-1)  # (batch, 1 + offers + counters)
        inputs = ops.sum(ops.take(table, rows, axis=0), axis=1) + repeats @ table[-n:]
        h, c = self.cell_step(inputs, h, c, recurrent_blocks_t)
        return self._logits(h, offers[:, :n]), [h, c, lookback_state]

    def get_config(self):
        config = super().get_config()
        return {**config, "lookback": self.lookback_config, "offer_dim": self.offer_dim,
                "copy": self.copy}  # fmt: skip
