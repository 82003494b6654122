"""Play order (tfdl.music.playorder): one set of repeat rules for the bar check and the
MIDI writer, tested on small tunes, against abc2midi, and on every shipped tune."""

import subprocess

import pytest

from tfdl.music.abc import load_corpus
from tfdl.music.abc2midi import find_abc2midi
from tfdl.music.meter import TICKS, BarReader
from tfdl.music.midi import _voice_orders, played_measures, read_midi_notes, score_notes
from tfdl.music.notation import key_index
from tfdl.music.playorder import RepeatError, play_order, play_steps
from tfdl.music.songs import parse_song, repair_song

needs_abc2midi = pytest.mark.skipif(find_abc2midi() is None, reason="abc2midi not installed")


def events(body, meter="4/4", unit="1/4"):
    reader = BarReader.from_header([f"M:{meter}", f"L:{unit}"])
    reader.feed(body + "\n")
    return reader.events


def tune(body):
    return f"X:1\nM:4/4\nL:1/4\nK:C\n{body}\n"


# Bar numbers are the reader's: a bar line opening the tune (|:) makes an empty bar 1.
@pytest.mark.parametrize(
    "body, order",
    [
        ("C4 | D4 | E4 |]", [1, 2, 3]),
        ("C4 |: D4 :| E4 |]", [1, 2, 2, 3]),
        ("|: C4 |1 D4 :|2 E4 :|3 F4 |]", [2, 3, 2, 4, 2, 5]),  # a third ending
        ("C4 |[1,2 D4 :|[3 E4 |]", [1, 2, 1, 2, 1, 3]),  # [1,2 and [3: three passes
        ("C4 |[1-2 D4 :|[3 E4 |]", [1, 2, 1, 2, 1, 3]),
        ("C4 :: D4 :|", [1, 1, 2, 2]),
        ("C4 | D4 :| E4 |]", [1, 2, 1, 2, 3]),  # :| with no |: repeats from the start
        ("C4 :| D4 :|", [1, 1, 2, 2]),  # ... or from the last :|
        ("C4 || D4 :|", [1, 2, 1, 2]),  # ... but not from a || (abc2midi 4.84)
        ("C | D4 | E3 :|", [1, 2, 3, 1, 2, 3]),  # a pickup is a bar of its own
        ("|: C4 :|", [2, 2]),  # one bar twice: listed twice
    ],
)
def test_play_order_follows_abc2midis_repeats(body, order):
    assert play_order(events(body)) == order


def test_play_order_rejects_what_abc2midi_rejects_and_plays_an_open_repeat_once():
    with pytest.raises(RepeatError, match="bar 3: a second |: before the first :|"):
        play_order(events("|: C4 |: D4 :|"))
    assert play_order(events("|: C4 | D4 |")) == [2, 3]  # the check says "never closed"


def test_play_steps_gives_each_pass_and_where_to_go_back():
    steps = list(play_steps(events("C4 :: D4 :|")))
    assert [(kind, passno, action) for _, kind, passno, action in steps if kind != "time"] == [
        ("both", 1, "back"),
        ("both", 2, "save"),
        ("end", 1, "back"),
        ("end", 2, None),
    ]


@needs_abc2midi
@pytest.mark.parametrize(
    "body",
    [
        "|: C4 |1 D4 :|2 E4 :|3 F4 |]",
        "C4 |[1,2 D4 :|[3 E4 |]",
        "C4 | G4 :: D4 | A4 :|",  # (music21 makes no bars of fewer than two | lines)
        "C4 | D4 | F4 :| E4 |]",
        "G | C4 | D3 :| E4 | F4 |]",
    ],
)
def test_the_midi_writer_plays_the_notes_abc2midi_plays(body, tmp_path):
    (tmp_path / "t.abc").write_text(tune(body))
    subprocess.run([find_abc2midi(), "t.abc", "-o", "t.mid"], cwd=tmp_path, capture_output=True)
    theirs = [pitch for _, pitch in read_midi_notes(tmp_path / "t.mid")]
    ours = [e.pitch for e in score_notes(parse_song(tune(body)), tune(body))]
    assert ours == theirs


def _check_walk(events):
    """``[written bar, ticks]`` as the bar check walks them: a new bar after every bar
    line and ending step (not by bar number, as `play_order` groups them)."""
    walked, new_bar = [], True
    for i, kind, _, _ in play_steps(events):
        if kind != "time":
            new_bar = True
        elif events[i].duration:
            if new_bar:
                walked.append([events[i].bar, 0])
            walked[-1][1] += events[i].duration
            new_bar = False
    return walked


@pytest.mark.slow
def test_the_midi_writer_plays_the_bars_the_check_walks_on_every_shipped_tune():
    from music21 import stream

    tunes = load_corpus()
    timed_otherwise, voiced = [], 0
    for n, text in enumerate(tunes):
        text = repair_song(text)
        score = parse_song(text)
        parts = list(score.parts) or [score]
        assert score_notes(score, text), f"tune {n} plays no notes"
        if len(parts) > 1:  # each voice its own order; the check reads voices in turn
            voiced += 1
            continue
        lines = text.split("\n")
        reader = BarReader.from_header(lines[: key_index(lines)])
        reader.feed("\n".join(lines[key_index(lines) + 1 :]) + "\n")
        walked = _check_walk(reader.events)
        (voice,) = _voice_orders(text, 1)
        assert voice[1] == [bar for bar, _ in walked], f"tune {n}"
        measures = list(parts[0].getElementsByClass(stream.Measure))
        heard = sum(measures[k].duration.quarterLength for k in played_measures(parts[0], voice))
        if abs(heard - sum(ticks for _, ticks in walked) * 4 / TICKS) > 1e-6:
            timed_otherwise.append(n)  # music21 gives some notes other lengths
    assert len(tunes) == 3360 and voiced <= 1
    # 39 shipped tunes have a bar music21 times otherwise than abc2midi (a grace note in
    # a tuplet, an inline L:), measured with this test; their bars are still played in
    # the check's order. The bound is that count and one more.
    assert len(timed_otherwise) <= 40, timed_otherwise
