"""The constrained sampler's grammar (tfdl.music.grammar), driven by scripted text: no model."""

import numpy as np
import pytest

from tfdl.errors import UserError
from tfdl.music import grammar
from tfdl.music.form import read_form
from tfdl.music.grammar import SongGrammar, form_plan, header_prime

PRIME = "X:1\nM:6/8\nL:1/8\nK:D\n"
A = "|:DED DFA|dcd efg|faf ecA|dcd efg|DED DFA|dcd efg|faf ecA|d3 d3:|\n"
B = "|:fgf fga|bag fed|fgf fga|bag fed|fgf fga|bag fed|ege cBA|d3 d3:|\n"


DANCE = form_plan()


def start(prime=PRIME, plan=DANCE, length=2000):
    song = SongGrammar.start(prime, length, plan)
    song.saved = song.state = (np.zeros(1), np.zeros(1))
    return song


def feed(song, text):
    """Feed ``text`` one character per chunk; True if a piece was rejected on the way.

    A bar is judged at the character after its bar line (here a newline), which a
    rejection drops with the bar, as the sampler drops the rest of its chunk.
    """
    rejected = False
    for char in text:
        song.read(char, ([np.zeros((1, 1)), np.zeros((1, 1))], [np.zeros(1), np.zeros(1)]))
        rejected = rejected or song.redraw
        if song.done:
            break
    return rejected


def test_an_aabb_tune_is_accepted_and_ends():
    song = start()
    assert not feed(song, A + B + "\n")
    assert song.done and song.text == PRIME + A + B.rstrip("\n")
    assert read_form(song.text).describe() == "AABB, 8 + 8 bars, ends on D"


def test_a_bar_of_the_wrong_length_is_rejected_and_drawn_again():
    song = start()
    feed(song, "|:DED DFA|\n")
    before = song.text
    assert feed(song, "dcd ef|\n")  # 5/8
    assert song.text == before and song.tries == 1
    assert not feed(song, "dcd efg|\n")


def test_a_part_may_not_close_early_or_run_long():
    song = start()
    feed(song, "|:DED DFA|dcd efg|faf ecA|\n")
    assert feed(song, "d3 d3:|\n")  # closes after 4 bars of 8
    song = start()
    feed(song, A.split("d3 d3:|")[0] + "\n")  # seven bars
    assert feed(song, "d3 d3|\n")  # bar 8 with a single bar line: the part would run long
    assert feed(song, "d3 d3||\n")  # closed, but not repeated
    assert not feed(song, "d3 d3:|\n")


def test_a_pair_of_endings_closes_a_part():
    song = start()
    a = "|:DED DFA|dcd efg|faf ecA|dcd efg|DED DFA|dcd efg|faf ecA|1 dcB A3:|2 d3 d3|]\n"
    assert not feed(song, a + B + "\n")
    assert song.done
    song = start()
    feed(song, a.split("2 ")[0])
    assert feed(song, "2 d3 d3|\n")  # a second ending longer than the first


def test_the_tune_ends_after_its_last_part_on_the_tonic():
    song = start()
    feed(song, A)
    assert feed(song, "\n")  # ending after one part of two
    song = start()
    feed(song, A + B.split("d3 d3:|")[0] + "\n")
    assert feed(song, "e3 e3:|\n")  # the last part ends on E, not D
    assert not feed(song, "d3 d3:|\n")
    assert feed(song, "|:DED DFA|\n")  # nothing after the last part
    assert not feed(song, "\n\n") and song.done


def test_each_rejection_is_counted_with_its_reason():
    song = start()
    feed(song, "|:DED DFA|\n")
    feed(song, "dcd ef|\n")  # 5/8
    feed(song, "dcd efg|faf ecA|dcd efg|DED DFA|dcd efg|faf ecA|\n")
    feed(song, "e3 e3:|\n")  # the A part off the tonic
    feed(song, "d3 d3|\n")  # bar 8 with a single bar line: the part would run long
    feed(song, "d3 d3:|\n")
    assert song.rejections == {"bar length": 1, "part end off the tonic": 1, "part length": 1}
    assert song.rejected == 3 and set(song.rejections) <= set(grammar.REJECTIONS)


def test_every_part_ends_on_the_tonic_unless_only_the_last_must():
    a_on_e = A.replace("d3 d3:|", "e3 e3:|")  # an A part that ends on E, in D
    song = start()
    feed(song, a_on_e.split("e3 e3:|")[0] + "\n")
    assert feed(song, "e3 e3:|\n")  # the A part must end on D too
    assert not feed(song, "d3 d3:|\n")
    song = start(plan=form_plan(part_endings="last"))
    assert not feed(song, a_on_e + B + "\n") and song.done  # only the tune's end on D
    song = start(PRIME + a_on_e)  # a prime's part is kept as it is
    assert not feed(song, B + "\n") and song.done
    with pytest.raises(UserError, match="part endings must be tonic or last"):
        form_plan(part_endings="dominant")


def test_after_max_tries_it_backs_up_a_bar_and_after_max_backtracks_it_gives_up():
    song = start(plan=None)  # the metrical grammar (--form free)
    feed(song, "DED DFA|dcd efg|faf ecA|dcd efg|" * 3 + "\n")
    whole = song.text
    for _ in range(grammar.MAX_TRIES - 1):
        assert feed(song, "DE|\n")
    assert song.backtracks == 0 and song.text == whole
    assert feed(song, "DE|\n")
    assert song.backtracks == 1 and song.text == whole[: -len("dcd efg|")]
    while not song.done:
        feed(song, "DE|\n")
    # it gives up at the last accepted bar where the tune is whole (4 bars or more)
    assert song.backtracks == grammar.MAX_BACKTRACKS
    assert song.text == PRIME + "DED DFA|dcd efg|faf ecA|dcd efg|"
    assert song.gave_up  # the sampler may write it again (generate.FORM_RETRIES)


def test_form_keeping_restarts_from_the_prime_when_back_ups_run_out():
    song = start()
    feed(song, "|:DED DFA|dcd efg|faf ecA|dcd efg|DED DFA|dcd efg|faf ecA|\n")
    while song.restarts == 0:
        assert feed(song, "d3 d3||\n")  # a tune that will not repeat its part
    assert song.text == PRIME and not song.done and song.backtracks == 0
    assert not feed(song, A + B + "\n") and song.done and not song.gave_up


def test_a_prime_with_a_whole_part_is_continued_in_its_form():
    song = start(PRIME + A)
    assert song.prime_parts == 1
    assert not feed(song, B + "\n") and song.done
    twelve = "DED DFA|dcd efg|faf ecA|dcd efg|" * 3
    song = start(PRIME + twelve[:-1] + ":|\n")  # a 12-bar part sets 12 bars per part
    assert song.plan.bars_per_part == 12
    with pytest.raises(UserError, match="the prime's part 1 has 12 bars, longer than the 8"):
        start(PRIME + twelve[:-1] + ":|\n", plan=form_plan(bars_per_part=8))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"type": "hoedown"}, "unknown tune type 'hoedown'"),
        ({"parts": 0}, "parts must be a whole number from 1 to 8, got 0"),
        ({"type": "jig", "bars_per_part": 3}, "a part of a 6/8 tune is phrases of 4 bars"),
        ({"meter": "13/0"}, "meter '13/0' is no ABC meter"),
    ],
)
def test_bad_settings_get_one_line(settings, message):
    with pytest.raises(UserError, match=message):
        form_plan(**settings)


def test_types_set_meter_and_form():
    assert form_plan("jig").meter == "6/8" and form_plan("reel").meter == "C|"
    assert form_plan("slip-jig").bars_per_part == 4
    plan = form_plan("waltz", parts=3, bars_per_part=16)
    assert (plan.meter, plan.parts, plan.bars_per_part) == ("3/4", 3, 16)
    assert header_prime("X:1\n", "2/4", "G") == "X:1\nM:2/4\nL:1/16\nK:G\n"
    assert header_prime(PRIME, "6/8") == PRIME
    with pytest.raises(UserError, match="the prime has M:6/8, which is not the meter C|"):
        header_prime(PRIME, "C|")


def test_form_keeping_wants_a_key_line_with_a_tonic_and_nothing_after_its_mode():
    for line, kept in (("K:Ador", True), ("K:none", False), ('K:G Bry"|A2ce', False)):
        song = start("X:1\nM:6/8\n")
        assert feed(song, line + "\n") is not kept, line
        assert start("X:1\nM:6/8\n", plan=None)._take_header_line(line)  # metrical: all
