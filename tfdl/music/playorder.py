"""Play order: which bars of an ABC tune are played, in what order, as abc2midi plays them.

One set of rules, used by both the bar check (`tfdl.music.meter.playback_problems`)
and the MIDI writer (`tfdl.music.midi`), so the music checked is the music heard:

- ``|: ... :|`` is played twice; ``::`` closes one repeat and opens the next;
- an ending (``|1``, ``:|2``, ``[1``, ``[1,3``, ``[2-3``) is played only on the passes
  it names, and a section with a third ending is played three times (up to four);
- a ``:|``, ``::`` or first ending with no ``|:`` before it repeats from the last
  ``:|`` or from the start of the tune (a ``||`` is no place a repeat starts from,
  unless written ``||:``), as abc2midi 4.84 mends it.

The rules walk the events of `tfdl.music.meter.BarReader` (anything with ``kind``,
``bar``, ``bar_kind`` and ``endings``). Pure Python: no TensorFlow, no music21.
"""

# What happens after a bar line, besides playing on: `play_steps`' fourth item.
SAVE = "save"  # a repeat starts here: a later :| comes back to this point
BACK = "back"  # go back to the last SAVE (or the start) for the next pass
SKIP = "skip"  # an ending not played on this pass: on to the next section boundary


class RepeatError(ValueError):
    """Repeat signs abc2midi cannot play, e.g. a second ``|:`` before the first ``:|``;
    the message names the bar."""


class OpenRepeat(RepeatError):
    """A ``|:`` or an ending still open when the events run out: an error only at the
    end of a tune (a song being sampled may close it in its next bars)."""


def fix_repeats(events):
    """Mend repeats as abc2midi 4.84 does: a ``:|``, ``::`` or first ending with no ``|:``
    before it repeats from the last ``:|`` or from the start of the tune.

    Returns ``(whether a |: goes before the start, {event index: the bar kind it plays
    as})``; raises `RepeatError` for repeats it cannot mend.
    """
    expect, plays = False, 0
    rep_point = None  # the index of the bar a missing |: goes on; None: the start
    start_inserted = False
    kinds = {}

    def kind_of(i):
        return kinds.get(i, events[i].bar_kind)

    def place_start():
        nonlocal start_inserted
        if rep_point is None:
            start_inserted = True
        else:
            kinds[rep_point] = "both" if kind_of(rep_point) == "end" else "start"

    for i, e in enumerate(events):
        if e.kind == "time":
            continue
        if e.kind == "ending":
            if plays == 0 and not expect:
                if rep_point is not None and kind_of(rep_point) == "end":
                    raise RepeatError(f"bar {e.bar}: an ending after :| needs a |: (or ::) first")
                place_start()
            plays += 1
            continue
        kind = e.bar_kind
        if kind == "start":
            if expect:
                raise RepeatError(f"bar {e.bar}: a second |: before the first :|")
            expect = True
        elif kind == "end":
            if not expect and plays < 1:
                place_start()
            expect = False
            rep_point = i
        elif kind == "both":
            if not expect:
                if rep_point is not None:
                    raise RepeatError(f"bar {e.bar}: :: after :| needs a |: (or ::) first")
                place_start()
            expect = True
    return start_inserted, kinds


def play_steps(events):
    """Walk ``events`` in playing order: yields ``(index, kind, pass, action)``.

    ``kind`` is ``"time"``, ``"ending"`` or the bar kind the bar line plays as (single,
    double, start, end, both: `fix_repeats` may turn an ``end`` into ``both``); ``pass``
    is the pass in force when the event is reached (1, 2, ...); ``action`` is None,
    `SAVE`, `BACK` or `SKIP` (what the bar line or ending does next). Plain tuples, not
    objects: the sampler walks a song's events again at every bar.

    Raises `RepeatError` where abc2midi stops (after the steps played before), and
    `OpenRepeat` after the last step when a ``|:`` or an ending is never closed.
    """
    repeat_from_start, kinds = fix_repeats(events)
    passno, maxpass, expect_repeat = 1, 1, False
    saved = 0  # the event a BACK returns to: the next pass starts after it
    if repeat_from_start:  # a |: before the first event
        maxpass, expect_repeat, saved = 2, True, -1
    i, n = 0, len(events)
    in_ending = False
    while i < n:
        e = events[i]
        if e.kind == "time":
            yield i, "time", passno, None
            i += 1
            continue
        kind = kinds.get(i, e.bar_kind) if e.kind == "bar" else "ending"
        if kind == "ending":
            if in_ending:
                raise RepeatError(f"bar {e.bar}: an ending before the last one was closed")
            if e.endings and passno not in e.endings:
                yield i, kind, passno, SKIP
                i += 1  # on to the next section boundary
                while i < n and not (
                    events[i].kind == "ending"
                    or (events[i].kind == "bar" and kinds.get(i, events[i].bar_kind) != "single")
                ):
                    i += 1
                if i == n:
                    raise OpenRepeat(f"bar {e.bar}: an ending is never closed by :| || or |]")
                continue
            yield i, kind, passno, None
            in_ending = True
            if maxpass < 4:  # one more pass, for the next ending (abc2midi plays up to 4)
                maxpass = passno + 1
            i += 1
            continue
        if kind != "single":
            in_ending = False
        action = None
        if kind == "start":
            action = SAVE
        elif kind == "end":
            if passno == 1 and expect_repeat or 1 < passno < maxpass:
                action = BACK
        elif kind == "both":
            action = BACK if passno == 1 and expect_repeat else SAVE
        yield i, kind, passno, action
        if action == SAVE:
            saved, expect_repeat, passno, maxpass = i, True, 1, 2
        elif action == BACK:
            expect_repeat = kind == "both"  # a :: also opens the next repeat
            passno += 1
            i = saved
        i += 1
    if expect_repeat and passno == 1:
        raise OpenRepeat("a |: is never closed by :|")


def play_order(events):
    """The written bars with music (numbers as in ``Event.bar``), in the order played.

    A bar played twice in a row (``|: A :|``) is listed twice. Raises `RepeatError` for
    repeats abc2midi cannot play; a ``|:`` or ending left open at the end is no error
    here (the music before it is played as far as it goes).
    """
    order, went_back = [], False
    try:
        for i, kind, _, action in play_steps(events):
            if kind == "time":
                if events[i].duration and (went_back or not order or order[-1] != events[i].bar):
                    order.append(events[i].bar)
                    went_back = False
            elif action == BACK:
                went_back = True
    except OpenRepeat:
        pass
    return order
