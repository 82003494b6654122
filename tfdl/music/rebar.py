"""Jigs written again as slides: 6/8 tunes re-barred in 12/8, more slides to learn from.

A slide is two parts of four 12/8 bars, and the shipped corpus has five tunes in 12/8.
A model trained on it writes 6/8 bars under ``M:12/8``, so ``--type slide`` keeps few
songs. A jig's part of eight 6/8 bars, read two bars at a time, has a slide's shape:
`join_bars` writes such a tune with ``M:12/8`` and every other bar line of each part
taken out (the same notes, in the same order). ``tfdl music train --slides F`` adds
these copies of a share ``F`` of the 6/8 training tunes (`slide_copies`); the held-out
tunes stay as they are.

A tune is only re-barred where that is sure to keep its music, else `join_bars` gives
None:
- its ``M:`` is 6/8 and its body has no field line, inline field, comment, line
  continuation or ending (``|1``, ``[2``): an ending of one bar cannot start mid-bar;
- every part is an optional pickup, whole bars, and an optional short last bar that
  completes the pickup, with an even number of bars after the pickup;
- no bar line taken out lets an accidental carry on: ABC holds ``^c`` to the end of
  its bar, so a joined bar whose second half has a plain ``c`` after a ``^c`` in its
  first half would change a note;
- the bar reader reads the new tune as it read the old: the same notes, every bar
  fitting, each part half as many bars long.

Pure Python: no TensorFlow, no music21.
"""

import random
import re

from tfdl.music.form import read_form
from tfdl.music.meter import _BAR, BarError, BarReader, check_bars
from tfdl.music.notation import FIELD_LINE, NOT_NOTES, NOTE, key_index

__all__ = ["join_bars", "slide_copies"]

_METER = re.compile(r"^M:\s*6/8\s*$", re.M)
# What the re-barring does not handle (see the module's doc).
_REFUSED = re.compile(r"\[[A-Za-z]:|%|\\\s*$|\|\s?\d|\[\d|:\d", re.M)


def _bar_lines(body):
    """``(start, end)`` of each bar line of ``body``, outside quotes, decorations and
    inline fields (`NOT_NOTES`), in order."""
    found, pos = [], 0
    while pos < len(body):
        skip = NOT_NOTES.match(body, pos)
        if skip:
            pos = skip.end()
            continue
        match = _BAR.match(body, pos)
        if match and not (body[pos] == "[" and body[pos : pos + 2] != "[|"):
            found.append((match.start(), match.end()))
            pos = match.end()
            continue
        pos += 1
    return found


def _bar_lengths(header, body, lines):
    """Each bar's length in ticks, read by the bar reader bar line by bar line, and the
    bar length of the meter; None if the reader refuses the body."""
    try:
        reader = BarReader.from_header(header)
        lengths, start = [], 0
        for _, end in lines:
            seen = len(reader.events)
            reader.feed(body[start:end])
            lengths.append(sum(e.duration for e in reader.events[seen:] if e.kind == "time"))
            start = end
    except BarError:
        return None
    return lengths, reader.meter


def _joins(body, lines, lengths, meter):
    """The indices of the bar lines to take out, or None where a part cannot be read in
    pairs of bars."""
    joins, part = [], []
    for i, ((start, end), length) in enumerate(zip(lines, lengths)):
        part.append((i, length))
        if body[start:end] == "|" and i < len(lines) - 1:
            continue  # a single bar line: the part goes on
        bars, part = part, []
        if len(bars) == 1 and not bars[0][1]:
            continue  # nothing before |: (at the start, or after a part's close)
        if bars[0][1] < meter:
            bars = bars[1:]  # a pickup
        if not bars or len(bars) % 2 or bars[-1][1] > meter:
            return None
        if any(n != meter for _, n in bars[:-1]) or not bars[-1][1]:
            return None
        joins += [j for j, _ in bars[::2]]
    return joins


def _accidental_carries(first, second):
    """True if an accidental in bar ``first`` would reach a plain note of ``second``
    once the two are one bar (same letter and octave, as ABC holds them)."""
    held = set()
    for match in NOTE.finditer(NOT_NOTES.sub(" ", first)):
        if match[1]:
            held.add((match[2], match[3]))
    seen = set()
    for match in NOTE.finditer(NOT_NOTES.sub(" ", second)):
        name = (match[2], match[3])
        if name in held and name not in seen and not match[1]:
            return True
        seen.add(name)
    return False


def join_bars(tune):
    """``tune`` (ABC, 6/8) written in 12/8 with every other bar line of each part taken
    out, or None where that could change its music (see the module's doc)."""
    text = tune.strip("\n")
    rows = text.split("\n")
    key_line = key_index(rows)
    if key_line is None:
        return None
    header, body = rows[:key_line], "\n".join(rows[key_line + 1 :])
    if not _METER.search("\n".join(header)) or _REFUSED.search(body):
        return None
    if any(FIELD_LINE.match(row) for row in rows[key_line + 1 :]):
        return None
    lines = _bar_lines(body)
    if not lines or body[lines[-1][1] :].strip():
        return None  # music after the last bar line
    read = _bar_lengths(header, body, lines)
    if read is None:
        return None
    joins = _joins(body, lines, *read)
    if not joins:
        return None
    bar_starts = [0] + [end for _, end in lines]
    for j in joins:
        first = body[bar_starts[j] : lines[j][0]]
        second = body[lines[j][1] : lines[j + 1][0]]
        if _accidental_carries(first, second):
            return None
    pieces, start = [], 0
    for j in joins:
        cut, end = lines[j]
        before = body[start:cut].rstrip(" \t")
        after = body[end:]
        stripped = after.lstrip(" \t")
        end += len(after) - len(stripped)
        if stripped.startswith("\n"):  # a bar line at a line's end: the lines join
            end += 1
        elif before.endswith("\n"):  # a bar line at a line's start
            before = before[:-1]
        pieces += [before, " "]
        start = end
    pieces.append(body[start:])
    new_body = "".join(pieces)
    new_header = _METER.sub("M:12/8", "\n".join(header))
    joined = f"{new_header}\n{rows[key_line]}\n{new_body}"
    return joined if _same_music(text, joined) else None


def _same_music(old, new):
    """The bar reader's check: the same notes by part, every bar fitting, and
    each part half as many bars long."""
    before, after = read_form(old), read_form(new)
    if [s.notes for s in before.sections] != [s.notes for s in after.sections]:
        return False
    if tuple(n // 2 for n in before.shape) != after.shape or any(n % 2 for n in before.shape):
        return False
    return check_bars(new).metrical


def slide_copies(tunes, share, seed=0):
    """Slides (`join_bars`) of a share of the 6/8 tunes of ``tunes`` that can be
    re-barred, chosen with ``seed``: ``round(share * those)`` of them, in order."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share!r}")
    if not share:
        return []
    joined = [j for j in map(join_bars, tunes) if j]
    chosen = sorted(random.Random(seed).sample(range(len(joined)), round(share * len(joined))))
    return [joined[k] for k in chosen]
