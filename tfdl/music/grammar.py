"""The constrained sampler's grammar: which pieces of drawn text a song may keep.

The sampler (`tfdl.music.generate`) draws characters from the model; `SongGrammar`
reads them a piece at a time (a header line, or a bar with its bar line) and answers
accept, reject (draw the piece again from the state where it started) or back up
(after `MAX_TRIES` rejections in a row, redraw the piece before it too), and after
`MAX_BACKTRACKS` back-ups it ends the song at its last whole bar. It never edits the
text: the model writes every character.

Two grammars, one class:

- metrical (``plan=None``, ``--form free``): every header line parses and every bar
  lasts what ``M:`` says;
- form-keeping (a `FormPlan`, the default): also, read by `tfdl.music.form`, each
  part has exactly ``bars_per_part`` bars and closes with ``:|`` (or a pair of
  endings, the second as long as the first) when its bars are complete, not before
  or after; the tune ends after its ``parts``-th part and nothing follows it; the
  bar that closes each part must end on the tonic of ``K:`` (``part_endings``
  "tonic", the default; "last": only the last part's). The ending is kept by
  rejection, like every other constraint here: a closing bar that does not end on
  the tonic is drawn again from the model. That samples exactly from the model
  conditioned on the rule (ranking a few candidates by log-probability would pick
  the likeliest, blander endings, and needs the log-probabilities the compiled loop
  does not return). Every part, not only the last: 81 % of the corpus's first parts
  end on the tonic, against 45 % of the shipped model's when only the last part had
  to (100 songs, seed 1); and a B part whose last bar restates the A part's, as 60 %
  of the corpus's do, needs an A part that ends at home. With it the shipped model's
  songs repeat 32.8 % of their bars instead of 27.3 %, and their parts are more
  alike (part similarity 0.316 against 0.273; the corpus: 48.2 % and 0.387).

`TUNE_TYPES` holds the meter and form of each dance type, `form_plan` checks a
user's settings. Nothing here imports TensorFlow.
"""

import dataclasses
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from tfdl.errors import UserError
from tfdl.music.abc import default_unit_length
from tfdl.music.form import PHRASE_BARS, FormReader, form_of
from tfdl.music.meter import BarError, BarReader, meter_length, verdict
from tfdl.music.notation import key_index, plain_key, tonic_letter
from tfdl.music.songs import header_problem

# Draws of one header line or bar before the grammar backs up one more piece, and
# back-ups before it ends the song at its last accepted bar.
MAX_TRIES = 16
MAX_BACKTRACKS = 8
# Times the form-keeping grammar starts a song again from the prime when it runs out of
# back-ups (each costs the song's characters drawn so far).
MAX_RESTARTS = 6
# Tried and left out: restarting as soon as one or two rounds of MAX_TRIES fail mostly
# for the form drew 19-40 % fewer characters for 100 songs (seeds 11, 12, all still
# in form), but kept fewer waltzes (16-17 of 20, against 19) and slides (4-9, against
# 10) in form: tunes the corpus seldom repeats need the bar-by-bar back-ups.
_HEADER_LINE = re.compile(r"[A-Za-z]:.*")
MAX_PARTS = 8  # TunesFormer's S: runs 1-8, and its output breaks the count above 6


@dataclass(frozen=True)
class TuneType:
    """A dance type: its meter (None: the model chooses), parts and bars per part."""

    meter: str | None
    parts: int = 2
    bars_per_part: int = 8


# Meters as the corpus writes them (795 reels in C|, 529 hornpipes in C, 693 tunes in
# 2/4). Bars per part from the corpus's commonest shapes per meter: (8, 8) for 6/8,
# C|, C, 2/4 and 3/4; (4, 4) for 9/8 (50 of 115 tunes; (8, 8) only 21) and 12/8 (4 of
# its 5 tunes). A march is 2/4 here (or --meter 6/8).
TUNE_TYPES = {
    "jig": TuneType("6/8"),
    "reel": TuneType("C|"),
    "hornpipe": TuneType("C"),
    "polka": TuneType("2/4"),
    "slide": TuneType("12/8", 2, 4),
    "slip-jig": TuneType("9/8", 2, 4),
    "waltz": TuneType("3/4"),
    "march": TuneType("2/4"),
    "any": TuneType(None),
}


# Why the grammar refuses a piece (`SongGrammar.rejections`): a header line that does
# not parse or breaks the plan; a bar line glued to the last one; a bar the bar reader
# cannot read; a bar of the wrong length; a tune that ends open (a tie, a repeat, too
# few bars, too few parts); and, keeping a form, text after the last part, more parts
# than planned, a part of the wrong length (or a bar line that closes it early), one
# not closed with ":|" or endings, a second ending longer than the first, and a part
# that ends off the tonic.
REJECTIONS = ("header", "bar line", "unreadable", "bar length", "tune end",
              "after the last part", "part count", "part length", "part close",
              "second ending", "part end off the tonic")  # fmt: skip


@dataclass(frozen=True)
class FormPlan:
    """The form a song must have: ``parts`` parts of ``bars_per_part`` bars each.

    ``meter`` is the type's meter (None: any). With ``from_prime`` the parts a prime
    already holds set ``bars_per_part`` (the user did not choose it).
    """

    parts: int = 2
    bars_per_part: int = 8
    meter: str | None = None
    from_prime: bool = True
    part_endings: str = "tonic"  # which parts end on the tonic: every one, or the "last"


# ``part_endings``: every part ends on the tonic, or only the last one.
PART_ENDINGS = ("tonic", "last")


def form_plan(type="any", parts=None, bars_per_part=None, meter=None, part_endings="tonic"):
    """The `FormPlan` for a tune type, with ``parts``/``bars_per_part`` overriding it
    and ``meter`` (if given) replacing the type's; ``part_endings`` "tonic": every
    part ends on the tonic, "last": only the last. Raises `UserError` on bad settings."""
    if type not in TUNE_TYPES:
        raise UserError(f"unknown tune type {type!r} (types: {', '.join(TUNE_TYPES)})")
    if part_endings not in PART_ENDINGS:
        raise UserError(f"part endings must be tonic or last, got {part_endings!r}")
    tune = TUNE_TYPES[type]
    meter = meter or tune.meter
    if meter is not None and meter_length(meter) is None:
        raise UserError(f"meter {meter!r} is no ABC meter (e.g. 6/8, 3/4, C|)")
    if parts is not None and not (isinstance(parts, int) and 1 <= parts <= MAX_PARTS):
        raise UserError(f"parts must be a whole number from 1 to {MAX_PARTS}, got {parts!r}")
    if bars_per_part is not None and bars_per_part not in PHRASE_BARS:
        where = f"a {meter} tune" if meter else "a tune"
        raise UserError(
            f"bars per part must be 4, 8, 12 or 16 (a part of {where} is phrases of "
            f"4 bars), got {bars_per_part!r}"
        )
    return FormPlan(
        parts if parts is not None else tune.parts,
        bars_per_part if bars_per_part is not None else tune.bars_per_part,
        meter,
        from_prime=bars_per_part is None,
        part_endings=part_endings,
    )


def header_prime(prime, meter=None, key=None):
    """``prime`` with ``M:`` (and its default ``L:``) and ``K:`` added where it leaves
    them open: a prime that has them already keeps its own (a different ``meter`` is
    a UserError: the prime's header is finished or says otherwise)."""
    lines = prime.split("\n")
    has_key = any(line.startswith("K:") for line in lines)
    written = next((line[2:].strip() for line in lines if line.startswith("M:")), None)
    if meter and written is not None and written.replace(" ", "") != meter.replace(" ", ""):
        raise UserError(f"the prime has M:{written}, which is not the meter {meter}")
    if has_key:
        if key and not any(line[2:].strip() == key for line in lines if line.startswith("K:")):
            raise UserError(f"the prime's header has its own K:, not K:{key}")
        return prime
    if (meter or key) and lines[-1]:
        raise UserError(f"prime ends inside the header line {lines[-1]!r}: end it with a newline")
    if key and not meter and written is None:
        raise UserError("choose a meter to go with the key (K: ends the header)")
    if meter and written is None:
        prime += f"M:{meter}\n{default_unit_length([f'M:{meter}'])}\n"
    if key:
        prime += f"K:{key}\n"
    return prime


def _unknown_meter(line):
    """True for an ``M:`` line whose meter ABC does not know (``M:13/0``)."""
    meter = line[2:].strip()
    return line.startswith("M:") and meter != "none" and meter_length(meter) is None


def _whole(reader):
    """True if what ``reader`` read is a whole tune: metrical, no repeat left open, and
    at least the 4 bars and 8 notes `tfdl.music.songs.check_song` asks of a song."""
    check = verdict(reader, pickup_parts=False, at_end=True)
    return check.metrical and check.bars >= 4 and reader.notes >= 8


@dataclass
class SongGrammar:
    """One song of the constrained sampler: the accepted text and the open header line or bar.

    The sampler feeds it each chunk of drawn characters with `read` and the LSTM states
    after each of them; it answers through ``state`` (where to go on from: after the
    last character, or the saved state of a piece to redraw), ``redraw`` (the piece
    was rejected) and ``done``. The states are opaque to it: tests drive it with
    scripted text and no model.

    ``saved`` is the model's state (``(h, c)``, or more items) after the accepted
    text, where the open piece (``pending``) started: a rejected piece is drawn again
    from there. After `MAX_TRIES` rejections in a row the sampler backs up one more
    piece (the bar before may be what makes every next bar wrong, e.g. a ``|]`` where
    a ``:|`` must close a repeat); after `MAX_BACKTRACKS` it ends the song at its last
    accepted bar.
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
    state: tuple = None  # the model's state to go on from
    redraw: bool = False  # the last read ended in a rejection
    accepted: int = 0  # pieces accepted so far
    rejected: int = 0  # pieces rejected so far (the sampler's wasted work)
    rejections: dict = field(default_factory=dict)  # why, by `REJECTIONS`' names: counts
    why: str = ""  # why the piece being checked was refused
    plan: FormPlan = None  # the form to keep; None: metrical only
    prime_parts: int = 0  # whole parts the prime holds (their closing bar lines are its own)
    restarts: int = 0  # times the form-keeping grammar started the song again
    gave_up: bool = False  # ended early, at its last whole bar: out of tries or of room

    @property
    def last_char(self):
        """The character the model last read: the end of the accepted or open text."""
        return (self.text + self.pending)[-1:]

    def fork(self):
        """A copy to try a draw on (lists copied; readers and states are never changed)."""
        return dataclasses.replace(self, header=list(self.header), history=list(self.history),
                                   rejections=dict(self.rejections))  # fmt: skip

    def rejected_at_once(self, before):
        """True if this fork of ``before`` rejected its piece before accepting anything,
        and may be redrawn from the same state by the next candidate row."""
        return (
            self.redraw
            and not self.done
            and self.accepted == before.accepted
            and self.backtracks == before.backtracks
            and self.restarts == before.restarts
        )

    @classmethod
    def start(cls, prime, length, plan=None):
        """A song that starts with ``prime``; UserError if a metrical song cannot, or
        (with a `FormPlan`) the prime's parts break the plan."""
        song = cls(prime, len(prime) + length, plan=plan)
        lines = prime.split("\n")
        key_line = key_index(lines)
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
            song.reader = song._reader_class().from_header(header[:-1])
            song.reader.feed(body)
        except BarError as e:
            raise UserError(f"prime has bad music: {e}") from None
        if plan is not None:
            song._take_prime_form(tonic_letter(header[-1]))
        return song

    def _reader_class(self):
        return BarReader if self.plan is None else FormReader

    def _take_prime_form(self, tonic):
        """Check the parts the prime holds against the plan; a prime's whole parts set
        the bars per part when the user did not."""
        if tonic is None:
            raise UserError("the prime's K: has no tonic letter: form-keeping needs one")
        form = form_of(self.reader, tonic, at_end=False)
        if form.sections and self.plan.from_prime:
            bars = form.sections[0].bars
            if bars not in PHRASE_BARS:
                raise UserError(f"the prime's first part has {bars} bars: not 4, 8, 12 or 16")
            self.plan = dataclasses.replace(self.plan, bars_per_part=bars)
        target = self.plan.bars_per_part
        parts = form.sections + ([form.open_section] if form.open_section.has_music else [])
        for n, section in enumerate(parts, 1):
            if section.bars > target:
                raise UserError(
                    f"the prime's part {n} has {section.bars} bars, longer than the "
                    f"{target} bars per part asked for"
                )
        for n, section in enumerate(form.sections, 1):
            if section.bars != target:
                raise UserError(
                    f"the prime's part {n} has {section.bars} bars, not the {target} "
                    "bars per part asked for"
                )
        if len(form.sections) > self.plan.parts:
            raise UserError(
                f"the prime holds {len(form.sections)} parts, more than the "
                f"{self.plan.parts} asked for"
            )
        self.prime_parts = len(form.sections)
        self.reader.form_closed = len(form.sections)

    def _fits_form(self, reader, at_end):
        """True if ``reader`` (after the piece being checked) can still make the plan's
        form: see the module docstring."""
        plan, target = self.plan, self.plan.bars_per_part
        closed_before = getattr(self.reader, "form_closed", 0)
        if closed_before >= plan.parts and not at_end:
            return self._refuse("after the last part")  # only the tune's end may follow
        form = form_of(reader, tonic_letter(self.text), at_end=at_end)
        sections = form.sections
        if len(sections) > plan.parts or (at_end and len(sections) != plan.parts):
            return self._refuse("part count")
        for n, section in enumerate(sections):
            if section.bars != target:
                return self._refuse("part length")
            if n >= self.prime_parts and not _closes_a_part(section):
                return self._refuse("part close")
        if not at_end:
            now = form.open_section
            last = reader.events[-1] if reader.events else None
            single = last is not None and last.kind == "bar" and last.bar_kind == "single"
            if now.counting:
                bars = now.bars
                # a single bar line must leave room for the bar that closes the part; a
                # first ending's :| must close a whole part
                if bars > target or (single and bars >= target):
                    return self._refuse("part length")
                first_ending_closed = now.endings and last.kind == "bar"
                if first_ending_closed and last.bar_kind in ("end", "both"):
                    if bars != target:
                        return self._refuse("part length")
            else:  # a second ending: as long as the first, no longer
                first, second = _bars(now.ending_length), _bars(now.later_length)
                if second > first or (single and second >= first):
                    return self._refuse("second ending")
        closing = len(sections) > closed_before  # this piece closed a part
        every = plan.part_endings == "tonic" and len(sections) > self.prime_parts
        if closing and (len(sections) == plan.parts or every):
            if form.last_note != form.tonic:  # a part's (the last part's) end on the tonic
                return self._refuse("part end off the tonic")
        reader.form_closed = len(sections)
        return True

    def read(self, text, states):
        """Take a chunk of drawn characters; ``self.state`` becomes the state to go on from.

        ``states`` is ``(after, before)``: the model's state after each character (a
        list of arrays, each (chars, ...)) and before the first (a list of arrays).
        """
        self.redraw = False
        self.state = self._read(text, states)

    def _read(self, text, states):
        after, before = states

        def state_after(t):  # the state after char t of this chunk
            return tuple(s[t] for s in after)

        def state_before(t):
            return tuple(before) if t == 0 else state_after(t - 1)

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
                self._accept(state_after(t))
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
                    # (With a form to keep and only the prime before it, redraw the end.)
                    keep_prime = self.plan is not None and not self.history
                    return self._reject(back_up=not self.pending and not keep_prime)
                self.text += self.pending
                self.done = True
                return None
            if len(self.text) + len(self.pending) >= self.limit:
                return self._finish()  # out of room
        return state_after(-1)

    def _take_header_line(self, line):
        # P: (an order of parts) asks for part labels in the body, which a character
        # model seldom follows through: such a song would end unplayable.
        if not _HEADER_LINE.fullmatch(line) or line.startswith(("X:", "P:")):
            return self._refuse("header")
        if _unknown_meter(line):
            return self._refuse("header")
        if self.plan is not None and self.plan.meter and line.startswith(("M:", "L:")):
            if any(h.startswith(line[:2]) for h in self.header):
                return self._refuse("header")  # the type's meter is in the prime: no second one
        if line.startswith("K:"):
            if self.plan is not None and not plain_key(line[2:]):
                # a part must end on a tonic (K:none has none), and text after the mode
                # ("K:G Bry|A2ce") is music abc2midi refuses in a header
                return self._refuse("header")
            header = [*self.header, line]
            if header_problem("X:1\n" + "\n".join(header)):
                return self._refuse("header")
            try:
                self.candidate = self._reader_class().from_header(self.header)
            except BarError:  # e.g. L:1/86
                return self._refuse("header")
        return True

    def _take_bar(self, piece, at_end):
        if self.plan is not None and piece[:1] and piece[0] in "|:]" and self.text[-1] in "|:]":
            # a redraw that starts with a bar line glues it to the last one ("|" + "|"
            # reads as two single bars here, as "||" in the whole text)
            return self._refuse("bar line")
        reader = self.reader.copy()
        try:
            reader.feed(piece)
            if at_end and reader.tie_pitch is not None:
                return self._refuse("tune end")
        except BarError:
            return self._refuse("unreadable")
        if at_end and not _whole(reader):
            return self._refuse("tune end")
        if not at_end and not verdict(reader, pickup_parts=False, at_end=False).metrical:
            return self._refuse("bar length")
        if self.plan is not None and not self._fits_form(reader, at_end):
            return False  # _fits_form said why
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
        self.saved = tuple(np.array(s) for s in state)
        self.tries = 0
        self.accepted += 1

    def _finish(self):
        """End the song early, at the last accepted bar line where it is whole (no
        repeat left open, at least 4 bars), or as it is if there is none."""
        self.done = True
        self.gave_up = True
        ends = [(len(self.text), self.reader)]
        ends += [(length, reader) for length, _, reader, _ in reversed(self.history)]
        for length, reader in ends:
            if reader is None:
                break
            if _whole(reader):
                self.text = self.text[:length]
                break
        return None

    def _refuse(self, why):
        """False, with ``why`` kept for the count of rejections (`REJECTIONS`)."""
        self.why = why
        return False

    def _reject(self, back_up=False):
        """Throw the open piece away: the next chunk redraws it from ``saved`` (with
        ``back_up``, or after `MAX_TRIES`, the accepted piece before it too)."""
        self.tries += 1
        self.rejected += 1
        self.rejections[self.why] = self.rejections.get(self.why, 0) + 1
        self.why = ""
        self.pending = ""
        self.in_bar_line = False
        self.candidate = None
        if self.tries >= MAX_TRIES or back_up:
            stuck = self.backtracks >= MAX_BACKTRACKS or not self.history
            if stuck and self.plan is not None and self.restarts < MAX_RESTARTS:
                # A form the song cannot close is mostly chosen early (a tune written
                # with || where parts must close with :|): start it again from the prime.
                if self.history:
                    length, self.saved, self.reader, headers = self.history[0]
                    self.text = self.text[:length]
                    del self.header[headers:]
                self.history = []
                self.backtracks, self.tries = 0, 0
                self.restarts += 1
                self.redraw = True
                return self.saved
            if self.backtracks >= MAX_BACKTRACKS or not self.history:
                return self._finish()
            length, self.saved, self.reader, headers = self.history.pop()
            self.text = self.text[:length]
            del self.header[headers:]
            self.backtracks += 1
            self.tries = 0
        self.redraw = True
        return self.saved


def _bars(length):
    """A length in bars, rounded as `tfdl.music.form.Section.bars` rounds it."""
    return int(length + Fraction(1, 2))


def _closes_a_part(section):
    """A section the form-keeping grammar lets close: repeated with ``:|`` or ``::``, or
    by a pair of endings with the second as long as the first."""
    if section.endings:
        return section.endings >= 2 and _bars(section.later_length) == _bars(section.ending_length)
    return section.closed_by in ("end", "both")
