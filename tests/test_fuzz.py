"""Property tests (issue #25): mutated corpus tunes and studio bodies never hang, exhaust
memory or escape as a traceback.

Each test draws batches of inputs with hypothesis and runs a batch in one child process
(`hostile.run_calls`: 2 GiB of address space, 10 s per input). The only accepted
outcomes are an answer (a value or a verdict: a BarError reason, a studio 400) or a
one-line `UserError`. The mutations start from real tunes of the shipped corpus and
insert, replace, delete and repeat ABC-significant text: bar lines and repeats,
brackets, quotes, decorations, broken rhythm, digits and digit runs up to 5,000 long,
digits that are not 0-9, and header lines.

The ``ci`` profile (tests/conftest.py) runs a few batches per entry point in well
under a minute; ``--hypothesis-profile long`` runs for about ten minutes:

    python3 dev.py test -m fuzz --hypothesis-profile long

With ``TFDL_FUZZ_LOG=FILE`` each test appends the number of inputs it ran to FILE.
"""

import json
import os
import string
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hostile import run_calls  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tfdl.music.studio.form import FIELDS  # noqa: E402

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parent.parent
TUNES = (ROOT / "abc_data" / "folk_tunes.abc").read_text(encoding="utf-8").split("\n\n")[::20]
BATCH = 10  # inputs per child process
SECONDS = 10.0  # per input

SIGNIFICANT = list('|:[](){}"!<>/') + list(string.digits) + ["²", "³", "¹", "٣", "۷", "𝟗"]
PIECES = [
    *SIGNIFICANT,
    "::", "|:", ":|", "|]", "[|", "||", "|1", ":|2", "[1", "[2", "|1-3", "[1,3",
    "(3", "(3:2:3", "(9::", "Z", "Z4", "X", "z", "x", "y", ">", ">>>", "<", "-", "~",
    "!trill!", '"G"', '"^text"', "{g}", "{/ag}", "[CEG]", "[M:3/4]", "[L:1/16]", "[K:D]",
    "[Q:1/4=120]", "[P:A]", "%", "\\", "`", "A", "B,", "c'", "^f", "_B", "=c", " ",
    "\n", "\nM:6/8\n", "\nM:1000/1\n", "\nM:none\n", "\nM:C|\n", "\nL:1/0\n", "\nL:1/64\n",
    "\nQ:0/4=120\n", "\nQ:1/4=0\n", "\nK:\n", "\nK:Zz\n", "\nX:2\n", "\nP:AB\n", "\nP:A\n",
    "\nR:hornpipe\n", "\nT:title 99\n", "\nV:1\n", "\nw:la-la\n", "\nI:abc-version 2.1\n",
    "\n\n",
]  # fmt: skip


def _pieces():
    return st.one_of(
        st.sampled_from(PIECES),
        st.text(alphabet=SIGNIFICANT, min_size=1, max_size=8),
        st.integers(1, 24).map(lambda n: "9" * n),
        st.integers(0, 10**12).map(str),
        st.just("9" * 5000),
    )


@st.composite
def mutated_tunes(draw):
    """A corpus tune with 1 to 8 mutations (insert, replace, delete, repeat a span)."""
    tune = draw(st.sampled_from(TUNES))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["insert", "replace", "delete", "repeat"]))
        pos = draw(st.integers(0, len(tune)))
        if op == "insert":
            tune = tune[:pos] + draw(_pieces()) + tune[pos:]
        elif op == "replace":
            tune = tune[:pos] + draw(_pieces()) + tune[pos + draw(st.integers(1, 6)) :]
        elif op == "delete":
            tune = tune[:pos] + tune[pos + draw(st.integers(1, 60)) :]
        else:  # repeat a span: long bars, long tunes, tunes over the size limit
            span = tune[pos : pos + draw(st.integers(1, 40))]
            tune = tune[:pos] + span * draw(st.integers(2, 300)) + tune[pos:]
    return tune


def _values():
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.integers(0, 4200).map(lambda n: int("1" + "0" * n)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["6/8", "99999/1", "4/" + "9" * 30, "C|", "D", "Ador", "²/4", "7/0"]),
        st.text(alphabet=SIGNIFICANT + list("ABCDEFGabcdefgz "), max_size=60),
        mutated_tunes().map(lambda t: t.split("K:", 1)[-1][:2000]),
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@st.composite
def bodies(draw):
    """A ``POST /api/generate`` body: a JSON object of fields, or raw mutated bytes."""
    if draw(st.booleans()):
        keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
        body = draw(st.dictionaries(keys, _values(), max_size=6))
        return json.dumps(body).encode()
    depth = draw(st.integers(0, 40_000))
    inner = draw(st.binary(max_size=40)) + draw(st.text(max_size=40)).encode()
    return draw(st.sampled_from([b"[", b"{", b'{"a":']))[:1] * depth + inner + b"]" * depth


def _run(target, inputs):
    outcomes = run_calls([(target, (text,)) for text in inputs], seconds=SECONDS)
    log = os.environ.get("TFDL_FUZZ_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"target": target, "inputs": len(outcomes)}) + "\n")
    for text, outcome in zip(inputs, outcomes):
        assert outcome.answered, f"{target}({text[:300]!r}): {outcome.kind}: {outcome.text}"
    assert len(outcomes) == len(inputs)


# Every entry point that reads a tune: the bar reader fed bar by bar, the bar check,
# the cleaner, check_song and the MIDI writer.
TUNE_READERS = [
    "hostile:feed_in_pieces",
    "tfdl.music.meter:check_bars",
    "hostile:clean",
    "tfdl.music.songs:check_song",
    "hostile:write_midi",
]


@pytest.mark.parametrize("target", TUNE_READERS)
@given(tunes=st.lists(mutated_tunes(), min_size=BATCH, max_size=BATCH))
def test_every_tune_reader_answers(target, tunes):
    _run(target, tunes)


@given(st.lists(bodies(), min_size=BATCH, max_size=BATCH))
def test_the_studio_request_checks_answer(bodies):
    _run("hostile:studio_request", bodies)
