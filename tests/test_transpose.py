import pytest
from played import abc2midi_notes

from tfdl.music import abc
from tfdl.music.abc2midi import find_abc2midi
from tfdl.music.transpose import (
    Key,
    common_keys,
    parse_key,
    transpose_tune,
    transpositions,
    tune_key,
)

HEADER = "X:1\nT:Test\nM:4/4\nL:1/8\n"


def test_keys_and_their_signatures():
    assert parse_key("D") == Key("D", "maj") and parse_key("D").fifths == 2
    assert parse_key("E Minor") == Key("E", "min") and parse_key("Em").fifths == 1
    assert parse_key("Ador").fifths == 1 and parse_key("Amix").fifths == 2  # G and D major
    assert parse_key("Bb").fifths == -2 and parse_key("F#m").fifths == 3
    assert parse_key("EM") == Key("E", "min")  # ABC modes ignore case: M is m
    assert [parse_key("D").alteration(x) for x in "CDEFGAB"] == [1, 0, 0, 1, 0, 0, 0]
    assert [parse_key("Bb").alteration(x) for x in "CDEFGAB"] == [0, 0, -1, 0, 0, 0, -1]
    assert parse_key("Hp") is None and parse_key("none") is None and parse_key("Dxyz") is None


def test_key_names_plain_keys_and_tonic_letters():
    from tfdl.music.notation import plain_key, tonic_letter

    assert parse_key("Ador").name == "A dorian" and parse_key("F#m").name == "F# minor"
    assert parse_key("Cion").name == "C major" and parse_key("Eaeolian").name == "E minor"
    assert plain_key("Ador") and plain_key(" E minor ") and plain_key("Bb")
    # text after the mode, no key, or a mode ABC does not know
    assert not plain_key("G exp ^f") and not plain_key("none") and not plain_key("G Bry")
    assert tonic_letter("X:1\nK:D Bry\nabc|") == "D"  # the letter, whatever the mode
    assert tonic_letter("X:1\nK:F#m\n") == "F" and tonic_letter("X:1\nK:none\n") is None
    assert tonic_letter("X:1\nT:K\nabc") is None


def test_a_tune_moves_letter_for_letter_with_its_written_accidentals():
    tune = HEADER + "K:D\n=F^cde fga2|d'c'ba A,B,C=C|\n"
    # D -> G: up three letters, five semitones. F natural becomes B flat; C sharp
    # (written, though the key has it) becomes F sharp, written; the octave marks move.
    assert transpose_tune(tune, "G") == HEADER + "K:G\n_B^fga bc'd'2|g'f'e'd' DEF=F|\n"
    # D -> A: up four semitones would be +7 as a fifth: down five instead.
    assert transpose_tune(tune, "A") == HEADER + "K:A\n=C^GAB cde2|agfe E,F,G,=G,|\n"


def test_the_key_line_keeps_its_mode_and_fields_stay_as_they_are():
    tune = HEADER + "K:E Minor\nP:A\n[P:A]EFG B2|[L:1/4]e2|% a comment on Bb\n"
    moved = transpose_tune(tune, "A")
    assert moved == HEADER + "K:A Minor\nP:A\n[P:A]ABc e2|[L:1/4]a2|% a comment on Bb\n"
    assert tune_key(moved) == Key("A", "min")


@pytest.mark.parametrize(
    "tune",
    [
        HEADER + "K:Hp\nABc|",  # no key it can move
        HEADER + "K:D\nABc|\nK:G\nABc|",  # a key change
        HEADER + "K:D\nAB[K:G]c|",  # an inline one
        "X:1\nABc|",  # no K: at all
    ],
)
def test_tunes_it_cannot_move_give_none(tune):
    assert transpose_tune(tune, "G") is None


def test_a_note_no_accidental_can_write_gives_none():
    # B double-sharp (C sharp) in C: a semitone up it is C double-sharp, a tone up it
    # would be C triple-sharp, which ABC cannot write.
    assert transpose_tune(HEADER + "K:C\n^^B|", "Db") == HEADER + "K:Db\n^^c|"
    assert transpose_tune(HEADER + "K:C\n^^B|", "D") is None


def test_common_keys_are_the_ones_a_mode_takes_often():
    tunes = [HEADER + f"K:{k}\nABc|" for k in ["D"] * 10 + ["G"] * 8 + ["Bb"] + ["Em"] * 3]
    assert common_keys(tunes, share=0.1) == {"maj": ["D", "G"], "min": ["E"]}
    every, added = transpositions(tunes, common_keys(tunes, share=0.1))
    # each D tune in G, each G tune in D, the Bb tune in both; Em has no other key
    assert added == 20 and every[:22] == tunes
    assert sorted(tune_key(t).tonic for t in every[22:]) == ["D"] * 9 + ["G"] * 11


@pytest.mark.slow
def test_every_corpus_tune_comes_back_from_another_key_unchanged():
    moved = 0
    for tune in abc.load_corpus():
        key = tune_key(tune)
        for tonic in ("G", "A", "F"):
            there = transpose_tune(tune, tonic)
            if there is None or key is None or Key(tonic, key.mode).pitch_class == key.pitch_class:
                continue
            if abs((Key(tonic, key.mode).pitch_class - key.pitch_class) % 12) == 6:
                continue  # a tritone goes up from either side: not its own inverse
            assert transpose_tune(there, key.tonic) == tune
            moved += 1
    assert moved > 8000  # 8,077 of the 3 x 3,360 tries (the rest: the same key, or a tritone)


@pytest.mark.skipif(find_abc2midi() is None, reason="abc2midi is not installed")
def test_abc2midi_hears_every_note_moved_by_the_same_interval(tmp_path):
    # The reference: abc2midi plays the tune and its transposition; every note must
    # sound at the same time, the key's interval higher or lower.
    tunes = abc.load_corpus()[::97][:30]
    checked = 0
    for n, tune in enumerate(tunes):
        key = tune_key(tune)
        if key is None:
            continue
        tonic = "G" if key.tonic != "G" else "D"
        moved = transpose_tune(tune, tonic)
        if moved is None:
            continue
        notes = [
            abc2midi_notes(text, tmp_path / f"{name}{n}")
            for name, text in (("a", tune), ("b", moved))
        ]
        before, after = notes
        assert len(before) == len(after) > 8
        shifts = {b[1] - a[1] for a, b in zip(sorted(before), sorted(after))}
        interval = (Key(tonic, key.mode).pitch_class - key.pitch_class) % 12
        assert len(shifts) == 1 and shifts.pop() % 12 == interval, tune
        assert [a[0] for a in sorted(before)] == [b[0] for b in sorted(after)]
        checked += 1
    assert checked >= 25
