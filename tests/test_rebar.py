"""Jigs re-barred as slides (tfdl.music.rebar), checked by hand, on the corpus and by
abc2midi, the reference."""

import pytest
from played import abc2midi_notes

from tfdl.music import abc
from tfdl.music.abc2midi import abc2midi_check, find_abc2midi
from tfdl.music.form import read_form
from tfdl.music.meter import check_bars
from tfdl.music.rebar import join_bars, slide_copies

HEADER = "X:1\nT:Test\nM:6/8\nL:1/8\nK:D\n"
JIG = HEADER + (
    "A | dfa afd | cec ecA | dfa afd |\nged c2 :|\n|: g | fdf ece | dfa a2 g | fdf ece | d3 d2 :|\n"
)


def test_every_other_bar_line_of_each_part_goes_with_its_line_break():
    assert check_bars(JIG).metrical and read_form(JIG).shape == (4, 4)
    assert join_bars(JIG) == HEADER.replace("6/8", "12/8") + (
        "A | dfa afd cec ecA | dfa afd ged c2 :|\n|: g | fdf ece dfa a2 g | fdf ece d3 d2 :|"
    )
    assert read_form(join_bars(JIG)).shape == (2, 2)
    assert check_bars(join_bars(JIG)).metrical


@pytest.mark.parametrize(
    "tune",
    [
        JIG.replace("M:6/8", "M:9/8"),  # not 6/8
        JIG.replace("ged c2 :|", "ged cBA |1 e3 :|2 d3 |]"),  # endings
        JIG.replace("| dfa a2 g |", "|"),  # three bars in the second part
        JIG.replace("cec ecA", "cec ec"),  # a short bar inside a part
        JIG.replace("K:D\n", "K:D\n%comment\n"),
        JIG.replace("d3 d2 :|\n", "d3 d2 :| d2\n"),  # music after the last bar line
        JIG.replace("K:D", "T:no key"),
    ],
)
def test_tunes_it_cannot_rebar_surely_give_none(tune):
    assert join_bars(tune) is None


def test_an_accidental_that_would_reach_the_next_bar_gives_none():
    # ^g holds to the end of its bar: joined, the next bar's g would be g sharp too
    assert join_bars(JIG.replace("A | dfa afd | cec", "A | d^ga afd | gec")) is None
    assert join_bars(JIG.replace("A | dfa afd | cec", "A | d^ga afd | cec")) is not None
    # the second bar writes its own accidental first: nothing changes
    assert join_bars(JIG.replace("A | dfa afd | cec", "A | d^ga afd | =gec")) is not None
    # another octave is another note
    assert join_bars(JIG.replace("A | dfa afd | cec", "A | d^Ga afd | gec")) is not None


def test_most_corpus_jigs_rebar_and_every_copy_fits_12_8():
    jigs = [t for t in abc.load_corpus() if "\nM:6/8\n" in t]
    joined = [j for j in map(join_bars, jigs) if j]
    assert len(joined) > 0.5 * len(jigs)  # 599 of 975
    assert all(check_bars(j).metrical for j in joined)
    assert all("\nM:12/8\n" in j for j in joined)
    copies = slide_copies(jigs, 0.25, seed=3)
    assert len(copies) == round(0.25 * len(joined))
    assert copies == slide_copies(jigs, 0.25, seed=3) != slide_copies(jigs, 0.25, seed=4)
    assert set(copies) <= set(joined)
    assert slide_copies(jigs, 0) == []


@pytest.mark.skipif(find_abc2midi() is None, reason="abc2midi is not installed")
def test_abc2midi_plays_the_same_notes_at_the_same_times(tmp_path):
    jigs = [t for t in abc.load_corpus() if "\nM:6/8\n" in t][::20]
    pairs = [(t, join_bars(t)) for t in jigs]
    pairs = [(t, j) for t, j in pairs if j][:25]
    assert len(pairs) >= 20
    assert all(c.metrical for c in abc2midi_check([j for _, j in pairs]))
    for n, (tune, joined) in enumerate(pairs):
        notes = [
            abc2midi_notes(text, tmp_path / f"{name}{n}")
            for name, text in (("a", tune), ("b", joined))
        ]
        assert notes[0] == notes[1] and len(notes[0]) > 20, tune


@pytest.mark.skipif(find_abc2midi() is None, reason="abc2midi is not installed")
def test_a_naive_join_would_change_a_note_abc2midi_hears(tmp_path):
    # why the accidental rule exists: without it the second bar's g sounds sharp
    tune = HEADER + "d^ga afd | geg ecA |\n"
    naive = tune.replace("M:6/8", "M:12/8").replace("afd |", "afd")
    heard = [
        [p for _, p in abc2midi_notes(text, tmp_path / name)]
        for name, text in (("a", tune), ("b", naive))
    ]
    assert heard[0] != heard[1]
    assert join_bars(tune) is None
