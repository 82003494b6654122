"""ABC corpus: splitting, normalisation, loading, the train/val split and the shipped corpus."""

import importlib
import importlib.util
import json

import pytest

from tfdl.music.abc import (
    ABCError,
    ABCWarning,
    corpus_path,
    dedupe,
    load_corpus,
    load_tunes,
    normalise_tune,
    split_tunes,
    train_val_split,
)

# Free text before the first tune, a tune followed directly by the next X: with
# no blank line, and runs of blank lines: splitting on blank lines (as the 6.S191
# lab did) miscounts this text; splitting on X: lines does not.
THREE_TUNES = """\
% Collection header
Some free text, not a tune.

X:1
T:One
K:G
GABc|]
X:2
T:Two
K:D


DEFG|]



X:3
T:Three
K:A
ABcd|]
"""

MESSY = """\
X: 17
T: First
Z: Transcribed by somebody
S: a printed book
N: slow
%%MIDI program 74
M: 6/8
R: jig
I: :: ::

K: G
% a comment line
GAB c2d | e3 d3 :|   % a trailing comment
\tM:3/4
w: words that carry no music
|: gfe dcB |]

Free text after the empty line that ends the tune.
"""

MESSY_NORMALISED = """\
X:1
T:First
M:6/8
R:jig
L:1/8
K:G
GAB c2d | e3 d3 :|
M:3/4
|: gfe dcB |]"""


def test_split_tunes_starts_each_tune_at_an_X_line():
    tunes = split_tunes(THREE_TUNES)
    assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:2", "X:3"]
    assert all(t.count("X:") == 1 for t in tunes)  # no overlaps
    assert tunes[0] == "X:1\nT:One\nK:G\nGABc|]"  # stops at the next X:, no blank needed
    assert "free text" not in "".join(tunes)
    assert split_tunes("no tunes here\n") == []


def test_normalise_tune_cleans_header_and_body():
    assert normalise_tune(MESSY) == MESSY_NORMALISED
    assert normalise_tune(MESSY_NORMALISED) == MESSY_NORMALISED  # idempotent


def test_normalise_tune_keeps_a_given_unit_length_and_puts_K_last():
    tune = normalise_tune("X:3\nL:1/16\nT:x\nM:C|\nK:D\nabc|]")
    assert tune == "X:1\nL:1/16\nT:x\nM:C|\nK:D\nabc|]"
    tune = normalise_tune("X:3\nT:x\nK:D\nL:1/4\nabc|]\n")
    assert tune == "X:1\nT:x\nL:1/8\nK:D\nL:1/4\nabc|]"  # a body L: is a change, not a header


@pytest.mark.parametrize(
    "metre, unit",
    [
        ("2/4", "1/16"),
        ("3/8", "1/16"),
        ("3/4", "1/8"),
        ("6/8", "1/8"),
        ("C", "1/8"),
        ("C|", "1/8"),
        ("none", "1/8"),
    ],
)
def test_normalise_tune_writes_the_abc_default_unit_length(metre, unit):
    # ABC 2.1: without L:, the unit is 1/16 below a 3/4 metre, else 1/8
    assert normalise_tune(f"X:1\nM:{metre}\nK:G\nabc|]").splitlines()[2] == f"L:{unit}"


def test_normalise_tune_drops_tunes_without_key_or_music():
    assert normalise_tune("X:1\nT:no key\nM:4/4\nabc|]") is None
    assert normalise_tune("X:1\nT:no body\nK:G\n% only a comment\nw:words") is None
    assert normalise_tune("X:1\nT:empty\nK:G\n") is None


def test_dedupe_compares_key_and_body_ignoring_titles_and_spacing():
    a = "X:1\nT:A\nK:G\nGABc|]"
    a_renamed = "X:1\nT:B\nK:G\nG A B c |]"
    a_in_d = "X:1\nT:A\nK:D\nGABc|]"
    assert dedupe([a, a_renamed, a_in_d, a]) == [a, a_in_d]


def test_train_val_split_is_by_tune_reproducible_and_disjoint():
    tunes = [f"X:1\nT:{i}\nK:G\nabc|]" for i in range(50)]
    train, val = train_val_split(tunes, val_fraction=0.1, seed=3)
    assert (len(train), len(val)) == (45, 5)
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(tunes)
    assert train == [t for t in tunes if t in set(train)]  # corpus order kept
    assert train_val_split(tunes, 0.1, seed=3) == (train, val)
    assert train_val_split(tunes, 0.1, seed=4)[1] != val
    assert all(train_val_split(tunes[:2], 0.01))  # both parts non-empty
    assert all(train_val_split(tunes[:2], 0.99))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(["a", "b"], val_fraction=fraction)


def test_load_tunes_from_directory_skips_bad_files_with_warnings(tmp_path):
    (tmp_path / "good.abc").write_text(THREE_TUNES + "X:4\nT:no key\nabc|]\n")
    (tmp_path / "sub").mkdir()
    latin = "X:1\nT:Caoineadh U\xed N\xe9ill\nK:Em\nEFGA|]\n".encode("latin-1")
    (tmp_path / "sub" / "latin.abc").write_bytes(latin)
    (tmp_path / "empty.abc").write_bytes(b"")
    (tmp_path / "notes.abc").write_text("just prose\n")
    (tmp_path / "ignored.txt").write_text("X:1\nK:G\nabc\n")

    with pytest.warns(ABCWarning) as record:
        tunes = load_tunes(tmp_path)
    assert len(tunes) == 4  # 3 good + 1 Latin-1; the keyless tune and the .txt are out
    assert "T:Caoineadh U\xed N\xe9ill" in tunes[3]
    messages = [str(w.message) for w in record]
    assert any("good.abc: dropped 1 of 4 tunes" in m for m in messages)
    assert any("latin.abc: not valid UTF-8" in m for m in messages)
    assert any("empty.abc: empty file" in m for m in messages)
    assert any("notes.abc: no tunes" in m for m in messages)
    assert any("skipped 2 of 4 .abc files" in m for m in messages)


def test_load_tunes_errors(tmp_path):
    with pytest.raises(ABCError, match="no such file or directory"):
        load_tunes(tmp_path / "missing.abc")
    (tmp_path / "empty.abc").write_text("  \n")
    with pytest.raises(ABCError, match="empty.abc: empty file"):
        load_tunes(tmp_path / "empty.abc")
    (tmp_path / "prose.abc").write_text("no tunes\n")
    with pytest.raises(ABCError, match="prose.abc: no tunes"):
        load_tunes(tmp_path / "prose.abc")
    (tmp_path / "nokey.abc").write_text("X:1\nT:t\nabc\n")
    with pytest.raises(ABCError, match="nokey.abc: none of its 1 tunes has a K: field"):
        load_tunes(tmp_path / "nokey.abc")
    with pytest.warns(ABCWarning), pytest.raises(ABCError, match="no tunes in any of its 3"):
        load_tunes(tmp_path)
    (tmp_path / "no_abc").mkdir()
    with pytest.raises(ABCError, match="holds no .abc files"):
        load_tunes(tmp_path / "no_abc")
    assert issubclass(ABCError, ValueError)


# --- the shipped corpus -------------------------------------------------------


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def test_shipped_corpus_loads_and_is_already_normalised(corpus):
    text = corpus_path().read_text(encoding="utf-8")
    assert len(corpus) > 1000
    assert text == "\n\n".join(corpus) + "\n"  # loading changes nothing
    stats = json.loads(corpus_path().with_suffix(".json").read_text())
    assert stats["tunes"] == len(corpus) == len(dedupe(corpus))
    assert stats["chars"] == len(text) and stats["charset"] == "".join(sorted(set(text)))


def test_every_shipped_tune_has_metre_and_key_headers(corpus):
    for tune in corpus:
        lines = tune.splitlines()
        k = next(i for i, line in enumerate(lines) if line.startswith("K:"))
        header = lines[:k]
        assert header[0] == "X:1", tune
        assert any(h.startswith("M:") for h in header), tune
        assert any(h.startswith("L:") for h in header), tune
        assert len(lines) > k + 1, tune  # a body follows K:


def test_shipped_tunes_parse_with_music21(corpus):
    music21 = pytest.importorskip("music21")
    for tune in corpus[:: len(corpus) // 5][:5]:
        score = music21.converter.parse(tune, format="abc")
        assert len(score.flatten().notes) > 10, tune


def _builder():
    try:
        return importlib.import_module("tfdl.abc_data.build_corpus")
    except ModuleNotFoundError:  # a checkout: tfdl.abc_data only exists once installed
        spec = importlib.util.spec_from_file_location(
            "build_corpus", corpus_path().parent / "build_corpus.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@pytest.mark.slow
def test_builder_reproduces_the_shipped_corpus_byte_for_byte(tmp_path):
    pytest.importorskip("music21")
    stats = _builder().build(tmp_path)
    for name in ("folk_tunes.abc", "folk_tunes.json"):
        assert (tmp_path / name).read_bytes() == (corpus_path().parent / name).read_bytes()
    assert stats["tunes"] > 1000 and stats["bytes"] < 3_000_000


def test_the_pretraining_corpus_holds_none_of_the_tunes_a_run_holds_out(tmp_path):
    pytest.importorskip("music21")
    from tfdl.music import abc

    stats = _builder().build_pretraining(tmp_path / "a", hold_out_book="airdsAirs")
    text = (tmp_path / "a" / "pretraining_tunes.abc").read_text(encoding="utf-8")
    tunes = abc.split_tunes(text)
    assert len(tunes) == stats["tunes"] and stats["other_tunes"] > 1000
    # what `tfdl music train --hold-out-book airdsAirs` holds out (seed 0, 10 %)
    kept, book = abc.split_off_book(abc.load_corpus(), "airdsAirs")
    train, val = abc.train_val_split(kept, 0.1, 0)
    music = {abc._music_key(t) for t in tunes}
    assert not music & {abc._music_key(t) for t in val + book}
    assert {abc._music_key(t) for t in train} <= music
    assert set("".join(kept)) <= set(text)  # the characters a fine-tuned run reads
    _builder().build_pretraining(tmp_path / "b", hold_out_book="airdsAirs")
    assert (tmp_path / "b" / "pretraining_tunes.abc").read_bytes() == text.encode("utf-8")
