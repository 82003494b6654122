"""Hostile ABC (issue #25): every reproducer, and the class it stands for, gets a verdict
naming the bar or field, or a one-line UserError, in its own process within 10 s and
2 GiB (`hostile.run_call`). Before the limits each of them hung, ran out of memory or
escaped as a traceback."""

import pytest
from hostile import run_call

from tfdl.music import limits

# Each reproducer runs in a child process of its own: left out by --quick.
pytestmark = pytest.mark.slow

# four good bars, so that check_song reaches its bar check
H = "X:1\nM:4/4\nL:1/8\nK:C\nCDEF GABc|CDEF GABc|CDEF GABc|CDEF GABc|"
BIG = "9" * 5000  # more digits than Python converts to an int (4,300)


def check_song(text):
    return run_call("tfdl.music.songs:check_song", text).value


def check_bars(text):
    return run_call("tfdl.music.meter:check_bars", text).value


def clean_tune(text):
    return run_call("tfdl.music.clean:clean_tune", text).value


def assert_bad_bar(text, bar, words):
    """check_bars, check_song and clean_tune all refuse ``text`` naming ``bar``."""
    bars = check_bars(text)
    assert not bars.metrical and bars.reason.startswith(f"bar {bar}: "), bars.reason
    assert words in bars.reason
    song = check_song(text)
    assert not song.valid and song.reason.startswith(f"bad bar: bar {bar}: "), song.reason
    assert words in song.reason
    cleaned, reason = clean_tune(text)
    assert cleaned is None and reason.startswith(f"bar {bar}: ") and words in reason


def assert_bad_field(text, words, bar_reader_reads_it=True):
    song = check_song(text)
    assert not song.valid and song.reason.startswith("bad field: "), song.reason
    assert words in song.reason and "\n" not in song.reason
    if bar_reader_reads_it:  # the bar reader reads no K: line
        bars = check_bars(text)
        assert not bars.metrical and words in bars.reason, bars.reason
    cleaned, reason = clean_tune(text)
    assert cleaned is None and words in reason


# -- row 1: an ending range built as a set ------------------------------------------------


@pytest.mark.parametrize(
    "music, words",
    [
        ("|1-999999999 CDEF:|", "an ending 999999999: tfdl reads at most 8"),  # the reproducer
        ("|1,3-99999 CDEF:|", "an ending 99999"),
        ("[1-9 CDEF:|", "an ending 9:"),
        ("|" + BIG + " CDEF:|", "an ending 99999"),
    ],
)
def test_row1_ending_numbers_are_bounded(music, words):
    assert_bad_bar(H + music, 5, words)


# -- row 3: one event per bar of a multi-bar rest -----------------------------------------


@pytest.mark.parametrize("rest", ["Z999999999", "Z65", "X99999", "Z" + BIG])
def test_row3_multi_bar_rests_are_bounded(rest):
    assert_bad_bar(H + rest + "|", 5, "a rest of bars")


def test_row3_a_long_rest_within_the_limit_is_still_read():
    bars = check_bars(H + "Z64|")
    assert bars.metrical and bars.bars == 5  # one written bar, 64 played


# -- row 4: music21's time-signature set-up for huge meters -------------------------------


@pytest.mark.parametrize(
    "meter, words",
    [
        ("1000/1", "M:1000/1: a meter has at most 32 beats"),  # the reproducer
        ("99999/1", "at most 32 beats"),
        ("16+17/8", "at most 32 beats"),
        ("4/128", "at most 1/64"),
        ("4/" + BIG, "at most 1/64"),
    ],
)
def test_row4_meters_are_bounded(meter, words):
    assert_bad_field(f"X:1\nM:{meter}\nL:1/8\nK:C\nCDEF|", words)


def test_row4_a_meter_change_in_the_body_is_bounded_too():
    assert_bad_bar(H + "[M:64/1]CDEF|", 5, "M:64/1")
    assert_bad_bar(H + "\nM:64/1\nCDEF|", 5, "M:64/1")


def test_row4_meter_length_is_none_beyond_the_limits():
    from tfdl.music.meter import meter_length

    assert meter_length("32/1") == 32 and meter_length("33/1") is None
    assert run_call("tfdl.music.meter:meter_length", "4/" + BIG).value is None


# -- row 5: music21 hangs laying out a huge note ------------------------------------------


@pytest.mark.parametrize(
    "note, words",
    [
        ("B999999", "a note length 999999: tfdl reads at most 64"),  # the reproducer
        ("A99999999", "a note length 99999999"),
        ("z65", "a note length 65"),
        ("[CEG]128", "a note length 128"),
        ("B/128", "divides a note by at most 64"),
        ("B" + "/" * 5000, "divides a note by at most 64"),
        ("{g99999}B", "a note length 99999"),
    ],
)
def test_row5_note_lengths_are_bounded(note, words):
    assert_bad_bar(H + note + "|", 5, words)


# -- row 6: numbers too long for Python to convert -----------------------------------------


def test_row6_a_5000_digit_note_length():
    assert_bad_bar(H + "A" + BIG + "|", 5, "a note length 99999")


@pytest.mark.parametrize("field", ["M:4/", "L:1/", "Q:1/4=", "K:C transpose="])
def test_row6_a_5000_digit_header_number(field):
    text = H.replace("K:C", "K:C" if field.startswith("K") else f"{field}{BIG}\nK:C")
    if field.startswith("K"):
        text = text.replace("K:C", f"{field}{BIG}")
    assert_bad_field(text, field[0] + ":", bar_reader_reads_it=not field.startswith("K"))


def test_row6_a_5000_digit_tuplet():
    assert_bad_bar(H + "(3:" + BIG + "ABC|", 5, "a tuplet number")


def test_row6_generate_prime_is_one_line(capsys):
    from tfdl.cli import main

    code = main(["music", "generate", "--out", "/nonexistent", "--prime", H + "A" + BIG + "|"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1, error
    assert "bar 5: a note length 99999" in error


# -- rows 7 and 8: digits that str.isdigit() accepts and ABC does not ----------------------


@pytest.mark.parametrize(
    "music",
    [
        "(²AB|",  # row 7
        "[²AB|",  # row 8
        "A٣B|",  # an Arabic-Indic 3, which int() reads as 3
        "z²AB|",
    ],
)
def test_rows7_8_foreign_digits_are_named(music):
    assert_bad_bar(H + music, 5, "is no ABC digit")


def test_rows7_8_the_bar_reader_alone_reads_them_as_no_music():
    from tfdl.music.meter import BarError, BarReader

    for piece in ("(²AB|", "[²AB|"):
        reader = BarReader.from_header(["M:4/4", "L:1/8"])
        with pytest.raises(BarError, match="bar 1: .*no ABC digit"):
            reader.feed(piece)


# -- row 9: a tempo of a zero-length beat --------------------------------------------------


@pytest.mark.parametrize(
    "tempo, words",
    [
        ("0/4=120", "a tempo's beat has 1 to 16 parts"),  # the reproducer
        ("1/0=120", "a tempo's beat is at least 1/64"),
        ("1/4=0", "a tempo is 1 to 500 beats a minute"),
        ("1/4=99999", "a tempo is 1 to 500"),
        ('"Allegro" 1/4=600', "a tempo is 1 to 500"),
    ],
)
def test_row9_tempi_are_bounded(tempo, words):
    text = f"X:1\nM:4/4\nL:1/8\nQ:{tempo}\nK:C\nCDEF GABc|"
    outcome = run_call("tfdl.music.export:abc_to_midi", text, "/tmp/tfdl-never-written.mid")
    assert outcome.kind == "user error" and words in outcome.text, outcome
    assert "\n" not in outcome.text
    assert_bad_field(text + "CDEF GABc|" * 3, words)


def test_row9_a_tempo_in_the_body_is_bounded_too():
    assert_bad_bar(H + "\nQ:0/4=120\nCDEF GABc|", 5, "Q:0/4=120")
    assert_bad_bar(H + "[Q:1/4=0]CDEF GABc|", 5, "Q:1/4=0")


def test_row9_a_real_tempo_still_sets_the_midi_tempo(tmp_path):
    text = "X:1\nM:4/4\nL:1/8\nQ:3/8=120\nK:C\nCDEF GABc|"
    outcome = run_call("tfdl.music.export:abc_to_midi", text, str(tmp_path / "a.mid"))
    assert outcome.kind == "value" and (tmp_path / "a.mid").read_bytes()[:4] == b"MThd"


# -- row 12: a huge tune -------------------------------------------------------------------


def test_row12_a_100kb_tune_is_refused_by_size_in_one_line():
    import random

    rng = random.Random(12)
    body = "".join(rng.choice("ABCDEFGabcdefg|:[]()2/3>z ") for _ in range(100_000))
    text = "X:1\nM:6/8\nL:1/8\nK:D\n" + body
    song = check_song(text)
    assert not song.valid and song.reason.startswith("too long: the tune has 100,0"), song.reason
    assert "at most 6,000" in song.reason
    assert "at most 6,000" in check_bars(text).reason
    assert "at most 6,000" in clean_tune(text)[1]
    outcome = run_call("tfdl.music.export:abc_to_midi", text, "/tmp/tfdl-never-written.mid")
    assert outcome.kind == "user error" and "at most 6,000" in outcome.text


def test_row12_overfull_bars_past_the_bar_limit_are_refused_before_music21():
    # music21 takes seconds for a few hundred overfull bars (its time grows with their
    # square): 400 of them, 4,800 characters, took 5 to 8 s, found by test_fuzz.py
    text = "X:1\nM:3/4\nL:1/8\nK:D\n" + "FD FA B D4|\n" * 400
    song = check_song(text)
    assert song.reason == "bad bar: bar 193: a tune has at most 192 bar lines in tfdl"
    assert check_bars(text).reason.startswith("bar 193: a tune has at most 192 bar lines")


def test_row12_slurs_left_open_and_overlong_bars_are_refused_before_music21():
    # both found by test_fuzz.py: 190 open slurs took music21 13 s, and one bar 200
    # times too long (2,400 characters) 6 s
    opened = "X:1\nM:2/4\nL:1/16\nK:G\n" + "(A,3A,) (A, | " * 190
    # one more slur left open in each bar: the 17th opens in bar 17
    assert check_song(opened).reason == "bad bar: bar 17: more than 16 slurs open at once"
    long_bar = "X:1\nM:2/4\nL:1/16\nK:G\n|: d2 | g2g2 fd^cd | " + "a2(ag) fd^cd " * 200 + "|"
    reason = "bar 4: a bar of more than 160 characters of music"
    assert check_song(long_bar).reason == f"bad bar: {reason}"
    outcome = run_call("tfdl.music.export:abc_to_midi", long_bar, "/tmp/tfdl-never-written.mid")
    assert outcome.kind == "user error" and reason in outcome.text, outcome


def test_tuplets_under_slurs_are_bounded_before_music21():
    # found by test_fuzz.py's kind of input: music21's time grows with about the cube of
    # the tuplets begun under a slur (100 of them took minutes); 33 is the most a real
    # tune has
    bar = "((3efg) dg agbdef agg2 |"
    header = "X:1\nM:4/4\nL:1/8\nK:D\n"
    many = header + "\n".join([bar] * 100)
    reason = "bar 41: more than 40 tuplets under slurs in a tune"
    assert check_song(many).reason == f"bad bar: {reason}"
    outcome = run_call("tfdl.music.export:abc_to_midi", many, "/tmp/tfdl-never-written.mid")
    assert outcome.kind == "user error" and reason in outcome.text, outcome
    assert limits.tune_problem(header + "\n".join([bar] * 40)) is None
    unslurred = header + "\n".join(["(3efg (dg) agbdef agg2 |"] * 100)  # no tuplet under one
    assert limits.tune_problem(unslurred) is None


def test_a_tune_at_the_size_and_bar_limits_is_still_read():
    text = "X:1\nM:4/4\nL:1/8\nK:C\n" + "CDEF GABc|" * limits.MAX_BARS
    assert check_bars(text).metrical
    assert limits.size_problem("z" * limits.MAX_TUNE_CHARS) is None
    assert limits.size_problem("z" * (limits.MAX_TUNE_CHARS + 1)).part == "tune"


# -- the limits themselves -----------------------------------------------------------------


def test_the_shipped_corpus_is_well_within_every_limit():
    from tfdl.music import abc

    tunes = abc.load_corpus()
    assert [t for t in tunes if limits.tune_problem(t)] == []
    assert max(map(len, tunes)) * 4 < limits.MAX_TUNE_CHARS


def test_numbers_in_text_fields_and_annotations_are_not_music():
    text = 'X:1\nT:Reel 123456789\nM:4/4\nL:1/8\nK:C\n"^99999th time"CDEF !99999!GABc|'
    assert limits.tune_problem(text) is None


def test_bar_numbers_count_as_the_bar_reader_does():
    body = "|:AB cd|ef ga:|[1 AB||2 cd|] Z65|"
    assert str(limits.body_problem(body)).startswith("bar 6: a rest of bars 65")
    # fed in pieces, as the sampler does: the piece after a bar line knows its bar
    assert limits.body_problem("1-9 AB|", bar=3, glued=True).message.startswith("bar 3: ")


# -- rows 10 and 11: the studio's request checks (the real server: tests/test_studio.py) ---


def studio_request(body):
    return run_call("hostile:studio_request", body).value


def test_row10_deeply_nested_json_is_a_400_before_json_loads_recurses():
    answer = studio_request(b"[" * 30000 + b"]" * 30000)
    assert answer == "400 None: the body nests 30000 levels deep; at most 8"
    assert "nests 9 levels" in studio_request(b'{"seed": ' + b"[" * 8 + b"]" * 8 + b"}")
    # brackets inside strings are text, not nesting
    assert "nests" not in studio_request(b'{"prime": "' + b"[" * 100 + b'"}')


@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"temperature": 1' + b"0" * 400 + b"}", "temperature must be between 0.01 and 10"),
        (b'{"seed": 1' + b"0" * 400 + b"}", "seed must be between 0 and 2147483647"),
        (b'{"num_songs": -1' + b"0" * 4000 + b"}", "num_songs must be between 1 and 16"),
        (b'{"temperature": 1e400}', "got inf"),
        (b'{"temperature": NaN}', "got nan"),
    ],
)
def test_row11_numbers_are_compared_with_their_range_before_any_conversion(body, words):
    answer = studio_request(body)
    assert answer.startswith("400 ") and words in answer and len(answer) < 200, answer


def test_music21_never_reads_a_text_beyond_the_limits():
    # every way to music21 goes through songs._parse (plots.plot_song too)
    outcome = run_call("tfdl.music.songs:parse_song", H + "B999999|")
    assert outcome.kind == "user error" and "a note length 999999" in outcome.text, outcome


def test_a_tune_without_k_is_checked_as_music21_reads_it():
    # found by the long fuzz profile: K: deleted, so the whole tune counted as header and
    # abc_to_midi gave music21 a note of length 2927
    text = "X:1\nT:t\nM:C|\n| (B2d2927) (d2ef) g3BA3c |"
    outcome = run_call("tfdl.music.export:abc_to_midi", text, "/tmp/tfdl-never-written.mid")
    assert outcome.kind == "user error" and "a note length 2927" in outcome.text, outcome
    assert "M:1000/1" in str(limits.tune_problem("X:1\nT:t\nfree text\nM:1000/1\nK:C\nabc|"))
