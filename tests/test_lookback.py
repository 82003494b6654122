"""The lookback model: its bar reading against a plain-Python reading, the model's
layer contract (shapes, weights, config, .keras), and training and sampling with it."""

import json

import keras
import numpy as np
import pytest
from conftest import tiny_music

from tfdl.music import abc
from tfdl.music.dataset import join_tunes
from tfdl.music.lookback import (
    CLOCK_MAX,
    ENDING_CHARS,
    SKIP_CHARS,
    BarLookback,
    LookbackRNN,
    lookback_for,
    text_offers,
)
from tfdl.music.vocab import Vocabulary


def sounding_notes(text):
    """For each character of ``text``, whether the lookback's clock reads it as a
    sounding note: a letter A-G or a-g in the music, not inside quotes, a decoration,
    grace notes or an inline field, and only the first note of a chord. A bar line or a
    line break (unless after a backslash) ends whatever was open."""
    out, inside, after_bracket, continued = [], None, False, False
    for char in text:
        note = False
        if char in "|\n" and not (char == "\n" and continued):
            inside, after_bracket = None, False
        elif inside is not None:
            inside = None if char == {'"': '"', "!": "!", "{": "}", "[": "]"}[inside] else inside
        elif after_bracket and char in ",'^_=":
            pass  # still just after "[": "[^F" is a chord
        elif after_bracket and char.isalpha():
            note = char in "ABCDEFGabcdefg"  # a chord's first note, or a field "[K:"
            inside, after_bracket = "[", False
        else:
            after_bracket = char == "["
            inside = char if char in '"!{' else None
            note = char in "ABCDEFGabcdefg"
        continued = char == "\\" and inside is None
        out.append(note)
    return out


def offers_by_hand(text, bar_chars, bars=16, phrase_bars=4, part_offer=True, counters=False,
                   notes=False):  # fmt: skip
    """The lookback's offers for each character of ``text``, read in plain Python: a
    second implementation of the rule in `tfdl.music.lookback`'s docstring. ``notes``:
    the offers by notes too, after the text's (each part: offers, then repeats)."""
    done, cur, lead, last, out = [], [], True, None, []
    offered = (None, None, None)
    part_bars, in_part, saved, just_closed = 0, 0, (0, 0), False
    note_done, note_cur, note_offered, note_repeats = [], [], (None, None, None), [0, 0, 0]
    for char, sounding in zip(text, sounding_notes(text)):
        repeats = [int(o is not None and o == char) for o in offered]
        if sounding:
            note_repeats = [int(o is not None and o == char) for o in note_offered]
            note_cur = note_cur + [char] if len(note_cur) < 16 else note_cur
        if char == "|" and not lead:
            note_done = [note_cur, *note_done][:bars]
        if char in "|\n":
            note_cur = []
        held = lead and char in SKIP_CHARS
        after_bar = lead and last == "|"
        if char == "|":
            if not lead:  # a bar with something in it closes
                done = [cur, *done][:bars]
                in_part += 1
            cur, lead = [], True
        elif char == "\n":
            cur, lead = [], True
        elif not held:
            lead = False
            cur = cur + [char if len(cur) < bar_chars else None]
        # a part closes at ":|", "||" or "|]"; ":|2" closed a first ending instead
        closes = (char == "|" and (last == ":" or after_bar)) or (char == "]" and after_bar)
        if closes and in_part > 0:
            saved, part_bars, in_part, just_closed = (part_bars, in_part), in_part, 0, True
        elif just_closed and held and char in ENDING_CHARS:
            (part_bars, in_part), just_closed = saved, False
        elif not held and char not in "|\n":
            just_closed = False
        if char == "\n" and last == "\n":  # a blank line: the next tune starts afresh
            done, part_bars, in_part, just_closed, note_done = [], 0, 0, False, []
            note_repeats = [0, 0, 0]
        at = len(cur)

        def following(bar, at=at):
            return bar[at] if at < min(len(bar), bar_chars) else None

        phrase = following(done[phrase_bars - 1]) if len(done) >= phrase_bars else None
        matching = [
            following(bar) for bar in done
            if 0 < at < bar_chars and bar[:at] == cur[:at] and following(bar) is not None
        ]  # fmt: skip
        part = None
        if part_offer and 0 < part_bars <= min(len(done), bars):
            part = following(done[part_bars - 1])
        offered = (phrase, matching[0] if matching else None, part)
        count = 3 if part_offer else 2
        where = (min(in_part, bars + 1), min(at, bar_chars)) if counters else ()
        codes, flags = list(offered[:count]), repeats[:count]
        if notes:  # the same three, by notes: the note at the same note index
            at = len(note_cur)

            def next_note(bar, at=at):
                return bar[at] if at < len(bar) else None

            note_phrase = (
                next_note(note_done[phrase_bars - 1]) if len(note_done) >= phrase_bars else None
            )
            note_matching = [
                next_note(bar) for bar in note_done
                if at > 0 and bar[:at] == note_cur and next_note(bar) is not None
            ]  # fmt: skip
            note_part = None
            if part_offer and 0 < part_bars <= min(len(note_done), bars):
                note_part = next_note(note_done[part_bars - 1])
            note_offered = (note_phrase, note_matching[0] if note_matching else None, note_part)
            codes += note_offered[:count]
            flags += note_repeats[:count]
        out.append((*codes, *flags, *where))
        last = char
    return out


def corpus_vocab(tunes):
    return Vocabulary.from_text(join_tunes(tunes))


@pytest.mark.parametrize(
    "bar_chars, bars, part_offer, counters",
    [(32, 16, True, True), (4, 16, True, True), (32, 16, True, False), (32, 8, False, False)],
)
def test_bar_lookback_reads_tunes_as_plain_python_does(bar_chars, bars, part_offer, counters):
    corpus = abc.load_corpus()
    endings = [t for t in corpus if ":|2" in t or "[2" in t][:4]  # first and second endings
    tunes = corpus[:8] + endings
    text = join_tunes(tunes)
    assert ":|2" in text and "||" in text and "|]" in text
    vocab = corpus_vocab(tunes)
    settings = lookback_for(
        vocab, bar_chars, bars, part_offer=part_offer, counters=counters, clock=False, notes=False
    )  # fmt: skip  (the clock: its own tests below)
    layer = BarLookback(**settings)
    offers, state = layer(vocab.encode(text)[None, :])
    code = {None: 0, **{c: i + 1 for i, c in enumerate(vocab.chars)}}
    by_hand = offers_by_hand(text, bar_chars, bars, part_offer=part_offer, counters=counters)
    count = 3 if part_offer else 2
    expected = [[code[o] for o in row[:count]] + list(row[count:]) for row in by_hand]
    np.testing.assert_array_equal(offers.numpy()[0], np.array(expected))
    assert state.shape == (1, (bars + 1) * bar_chars + 11)  # the bars and the current one
    if part_offer and bar_chars == 32:  # the part offer: there for a good share of them
        assert 0.2 < (offers.numpy()[0, :, 2] > 0).mean() < 0.9


@pytest.mark.parametrize("part_offer", [True, False])
def test_bar_lookback_offers_notes_as_plain_python_does(part_offer):
    corpus = abc.load_corpus()
    endings = [t for t in corpus if ":|2" in t or "[2" in t][:4]
    chords = [t for t in corpus if '"' in t and "!" in t and "{" in t][:3]
    tunes = corpus[:8] + endings + chords  # chord names, decorations, grace notes
    text = join_tunes(tunes) + "\n\nX:1\nK:D\n|[^FA]2 [K:G] A,2 z B|\\\n[FA]2 A2 B|"
    vocab = corpus_vocab([text])
    settings = lookback_for(vocab, part_offer=part_offer, notes=True)
    offers, state = BarLookback(**settings)(vocab.encode(text)[None, :])
    code = {None: 0, **{c: i + 1 for i, c in enumerate(vocab.chars)}}
    count = 6 if part_offer else 4
    by_hand = offers_by_hand(text, 32, part_offer=part_offer, counters=True, notes=True)
    expected = [[code[o] for o in row[:count]] + list(row[count:]) for row in by_hand]
    # the offers and repeats, and with the part offer the counters (without it no part
    # closes in the layer); the clock has its own tests below
    columns = 2 * count + (2 if part_offer else 0)
    np.testing.assert_array_equal(offers.numpy()[0, :, :columns], np.array(expected)[:, :columns])
    # the note offers are there for a good share of the characters
    note_match = offers.numpy()[0, :, count // 2 + 1]
    assert 0.2 < (note_match > 0).mean() < 0.9


def test_bar_lookback_offers_bar_i_of_the_part_before_across_endings():
    a_part = "|:AB|c2|d2|e2|f2|g2|a2|1b2:|2B2||"  # 9 written bars: a pickup, 6, 2 endings
    text = f"X:1\nK:D\n{a_part}\nfg|c2|d2|e2|f2|g2|a2|1b2:|2B2|]"
    vocab = Vocabulary.from_text(text)
    offers, _ = BarLookback(**lookback_for(vocab, notes=False))(vocab.encode(text)[None, :])
    # the part offer after each character: what it offers for the next one
    part = "".join("_" if o == 0 else vocab.chars[o - 1] for o in offers.numpy()[0][:, 2])
    b_start = text.index("\nfg") + 1
    assert part[b_start - 1 : b_start + 1] == "AB"  # B's pickup is offered A's
    for bar in ("c2", "d2", "e2", "f2", "g2", "a2"):  # bar i of B: bar i of A
        at = text.index(f"|{bar}", b_start)
        assert part[at : at + 2] == bar
    first = text.index("|1b2", b_start) + 1  # after "|1": the first ending's "b2:"
    assert part[first : first + 3] == "b2:"
    second = text.index(":|2B2", b_start) + 2  # after ":|2": A's second ending again
    assert part[second : second + 2] == "B2"
    # in the A part nothing is offered until its first ending's ":|"
    assert set(part[: text.index(":|2")]) == {"_"}


def test_bar_lookback_offers_a_phrase_four_bars_back_and_follows_a_restated_bar():
    text = "K:D\n|:ABc d2|ABc e2|fed cBA|G2F E2D||\nABc d2|gab agf|"
    vocab = Vocabulary.from_text(text)
    offers, _ = BarLookback(**lookback_for(vocab, notes=False))(vocab.encode(text)[None, :])
    offers = offers.numpy()[0]

    def chars(column, start, stop):
        return "".join("_" if o == 0 else vocab.chars[o - 1] for o in offers[start:stop, column])

    fifth = text.index("\nABc d2")  # the fifth bar starts after this line break
    # the phrase offer: bar 1 at each position (its "|:" holds none)
    assert chars(0, fifth, fifth + 6) == "ABc d2"
    # the match offer: none at the bar's start; after "A" the latest bar that began
    # with "A" is bar 2, whose "Bc " goes on; after "ABc " bar 2 still matches ("e")
    assert chars(1, fifth, fifth + 5) == "_Bc e"
    assert list(offers[fifth + 1 : fifth + 5, 3]) == [1, 1, 1, 1]  # "ABc " as phrased
    # "d" left bar 2 behind: the match offer has bar 1's next character ("2")
    assert chars(1, fifth + 5, fifth + 6) == "2" and offers[fifth + 6, 4] == 1
    sixth = text.rindex("|gab")
    assert chars(0, sixth, sixth + 3) == "ABc"  # bar 2, four bars back
    assert chars(1, sixth + 1, sixth + 2) == "_"  # no bar began with "g": no match
    assert not offers[: text.index("|fed"), 0].any()  # no bar 4 back before bar 5


def clock_after(text, vocab=None):
    """The clock (time in the bar, half units) after each character of ``text``."""
    vocab = vocab or Vocabulary.from_text(text + "\\\n|\"!{}[]()<>/0123456789,'^_=")
    offers, _ = BarLookback(**lookback_for(vocab))(vocab.encode(text)[None, :])
    return offers.numpy()[0, :, -1]


@pytest.mark.parametrize(
    "bar, halves",
    [
        ("ABc d2", [2, 4, 6, 6, 8, 10]),  # a unit each, "2" doubles the note
        ("A/B/ c3/2", [2, 1, 3, 2, 2, 4, 8, 5, 5]),  # "c3" then "/2" halves it
        ("A//B/", [2, 1, 0, 2, 1]),  # "A//": a quarter unit, less than a half unit
        ("(3ABc d", [0, 0, 1, 2, 4, 4, 6]),  # a triplet: three in the time of two
        ("A>B c<d", [2, 3, 4, 4, 6, 5, 8]),  # broken rhythm: the pair's time is kept
        ('"Am"A !trill!B {g}c', [0] * 4 + [2, 2] + [2] * 7 + [4, 4, 4, 4, 4, 6]),
        ("[CEG]2 [K:G] A,2 z", [0, 2, 2, 2, 2, 4] + [4] * 7 + [6, 6, 8, 8, 10]),
        ("A2 \\\nB", [2, 4, 4, 4, 4, 6]),  # a continued line keeps the bar's time
        ("A2\nB", [2, 4, 0, 2]),  # a new line starts it again (a header field's text)
    ],
)
def test_the_clock_counts_the_time_in_the_bar_from_the_characters(bar, halves):
    # after a bar line: the clock starts at 0; each value is the time after that character
    times = clock_after("|" + bar)[1:]
    expect = [min(h, CLOCK_MAX) for h in halves]
    assert list(times) == expect, list(zip(bar, times))


def test_the_clock_agrees_with_the_bar_reader_on_the_corpus():
    # at each bar line, the clock has the time the bar reader (tfdl.music.meter, written
    # apart) gives that bar. Measured exact in every bar: 199 of these 200 tunes, 770 of
    # the first 800 (96 %); the bound, 93 %, is the 800's rate less 3 points
    from tfdl.music.meter import BarReader
    from tfdl.music.notation import key_index

    tunes = abc.load_corpus()[:200]
    vocab = corpus_vocab(tunes)
    layer = BarLookback(**lookback_for(vocab))
    exact = 0
    for tune in tunes:
        lines = tune.split("\n")
        key_line = key_index(lines)
        body = "\n".join(lines[key_line + 1 :])
        reader = BarReader.from_header(lines[:key_line])
        reader.feed(body + "\n")
        times = {}
        for event in reader.events:
            if event.kind == "time":
                times[event.bar] = times.get(event.bar, 0) + event.duration
        want = [min(t * 2 // reader.unit, CLOCK_MAX) for _, t in sorted(times.items()) if t]
        clock = text_offers(layer, vocab.encode(tune + "\n\n"))[:, -1]
        start = len(tune) - len(body)
        ends = [i for i in range(start + 1, len(tune)) if tune[i] == "|" and tune[i - 1] != "|"]
        ends += [len(tune.rstrip())] if tune.rstrip()[-1] not in "|]" else []
        got = [int(clock[i - 1]) for i in ends if clock[i - 1] > 0]
        exact += got == want
    assert exact >= 0.93 * len(tunes), exact


def tiny_model(vocab, part_offer=True, counters=True, clock=True, notes=True, **changes):
    # the defaults: a new model's lookback (note offers, copy gates), but tiny
    settings = {"embedding_dim": 8, "rnn_units": 16, "offer_dim": 4, "copy": notes, **changes}
    lookback = lookback_for(vocab, part_offer=part_offer, counters=counters, clock=clock,
                            notes=notes)  # fmt: skip
    model = LookbackRNN(len(vocab), lookback=lookback, **settings)
    model.build((None, None))
    return model


@pytest.mark.parametrize(
    "part_offer, counters, clock, notes, offer_dim, inputs, weights",
    [
        (True, True, True, True, 4, 8 + 6 * (4 + 1) + 3 * 8, 12),  # notes too, copy gates
        (True, True, True, False, 4, 8 + 3 * (4 + 1) + 3 * 8, 10),  # the counters' and clock's
        (True, True, False, False, 4, 8 + 3 * (4 + 1) + 2 * 8, 9),  # the counters' embeddings
        (True, False, False, False, 4, 8 + 3 * (4 + 1), 7),
        (False, False, False, False, None, 3 * 8 + 2, 7),  # the first lookback models
    ],
)
def test_lookback_rnn_shapes_weights_and_step_match_call(
    part_offer, counters, clock, notes, offer_dim, inputs, weights
):
    tunes = abc.load_corpus()[:4]
    vocab = corpus_vocab(tunes)
    model = tiny_model(vocab, part_offer, counters, clock, notes, offer_dim=offer_dim)
    # character and offer embeddings (and the counters'), LSTM kernel (the character's
    # embedding, each offer's, each offer's repeat flag, the counters'), recurrent
    # kernel, bias, dense kernel and bias (and the copy gates' kernel and bias)
    assert len(model.weights) == weights
    assert model.lstm.cell.kernel.shape == (inputs, 64)
    ids = vocab.encode(join_tunes(tunes)[:150])[None, :]
    logits, (h, c, lookback) = model(ids, return_state=True)
    assert logits.shape == (1, 150, len(vocab)) and h.shape == (1, 16)
    state = [np.zeros((1, 16), "float32"), np.zeros((1, 16), "float32")]
    state.append(model.lookback.initial_state(1))
    stepped = []
    for t in range(ids.shape[1]):
        step_logits, state = model.step(ids[:, t], state)
        stepped.append(step_logits.numpy())
        # the logits again from the state alone (the form sampler's restart point)
        np.testing.assert_allclose(model.state_logits(state).numpy(), stepped[-1], atol=1e-6)
    np.testing.assert_allclose(np.stack(stepped, 1), logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(state[2].numpy(), lookback.numpy())
    # the step on transposed recurrent blocks (the one-song path) agrees too
    again, _ = model.step(ids[:, 0], [np.zeros((1, 16), "float32")] * 2 + [state[2]],
                          recurrent_blocks_t=model.recurrent_blocks_t())  # fmt: skip
    direct, _ = model.step(ids[:, 0], [np.zeros((1, 16), "float32")] * 2 + [state[2]])
    np.testing.assert_allclose(again.numpy(), direct.numpy(), atol=1e-5)


def test_the_copy_gates_add_each_offer_to_the_logit_of_the_character_it_offers():
    tunes = abc.load_corpus()[:4]
    vocab = corpus_vocab(tunes)
    model = tiny_model(vocab)
    ids = vocab.encode(join_tunes(tunes)[:400])[None, :]
    offers, _ = model.lookback(ids)
    codes = offers.numpy()[0, :, : model.offers]
    kernel, bias = model.copy_gates.weights
    note_match = model.offers // 2 + 1
    bias.assign(np.eye(model.offers, dtype="float32")[note_match] * 50.0)
    kernel.assign(np.zeros(kernel.shape, "float32"))
    copied = model(ids).numpy()[0]
    offered = codes[:, note_match]
    assert 0 < (offered > 0).sum() < len(offered)
    # the gate adds exactly its value to the offered character's logit, nothing elsewhere
    added = copied - model.dense(model.lstm(model._inputs(ids, offers))[0]).numpy()[0]
    expect = np.zeros_like(added)
    rows = np.flatnonzero(offered)
    expect[rows, offered[rows] - 1] = 50.0
    np.testing.assert_allclose(added, expect, atol=1e-4)
    assert (copied[rows].argmax(-1) == offered[rows] - 1).all()


def test_text_offers_are_one_pass_over_the_text_and_feed_the_model_as_its_own_reading():
    tunes = abc.load_corpus()[:30]
    vocab = corpus_vocab(tunes)
    ids = vocab.encode(join_tunes(tunes))
    layer = BarLookback(**lookback_for(vocab))
    whole, _ = layer(ids[None, :])
    np.testing.assert_array_equal(text_offers(layer, ids, chunks=7), whole.numpy()[0])
    # a training window given those offers is the model reading on from the text's
    # start with its LSTM state set to zero there
    model = tiny_model(vocab)
    window = slice(600, 700)
    given = model((ids[None, window], whole.numpy()[:, window]))
    _, before = layer(ids[None, : window.start])
    zeros = np.zeros((1, 16), "float32")
    own = model(ids[None, window], initial_state=[zeros, zeros, before])
    np.testing.assert_allclose(given.numpy(), own.numpy(), atol=1e-6)
    alone = model(ids[None, window])  # the window read alone: fewer offers
    assert not np.allclose(given.numpy(), alone.numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="state"):
        model((ids[None, window], whole.numpy()[:, window]), return_state=True)


def test_lookback_rnn_config_round_trip_and_keras_file(tmp_path):
    vocab = corpus_vocab(abc.load_corpus()[:4])
    model = tiny_model(vocab, dropout=0.2)
    ids = vocab.encode("X:1\nK:D\n|:ABc d2|ABc e2|")[None, :]
    clone = LookbackRNN.from_config(model.get_config())
    clone.build((None, None))
    assert clone.get_config() == model.get_config()
    path = tmp_path / "lookback.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: registered
    assert isinstance(loaded, LookbackRNN)
    np.testing.assert_allclose(loaded(ids).numpy(), model(ids).numpy(), atol=1e-6)


def test_lookback_rnn_refuses_a_vocabulary_without_bar_lines():
    with pytest.raises(ValueError, match="needs"):
        lookback_for(Vocabulary.from_text("ABC\n"))
    with pytest.raises(ValueError, match="bar_chars"):
        BarLookback(bar_id=0, newline_id=1, bar_chars=0)
    with pytest.raises(ValueError, match="phrase_bars"):
        BarLookback(bar_id=0, newline_id=1, bars=2, phrase_bars=4)


def test_lookback_model_trains_saves_and_writes_songs_in_every_mode(tunes_file, tmp_path):
    from tfdl.cli import main
    from tfdl.music.generate import SongSampler
    from tfdl.music.saved import load_music_model

    out = tmp_path / "run"
    argv = ["music", "train", "--data", str(tunes_file), "--out", str(out), "--lookback"]
    assert main([*argv, "--tracking", "off", *tiny_music(steps=40)]) == 0
    model, vocab, settings = load_music_model(out)
    assert isinstance(model, LookbackRNN) and settings["lookback"] is True
    assert json.loads((out / "settings.json").read_text())["parameters"] == model.count_params()
    sampler = SongSampler(model, vocab)
    prime = "X:1\nM:6/8\nL:1/8\nK:D\n"
    free = sampler.sample(2, length=200, seed=3, prime=prime, metrical=False)
    metrical = sampler.sample(2, length=300, seed=3, prime=prime, form="free")
    assert sampler.work["pieces_accepted"] > 0
    form = sampler.sample(2, length=300, seed=3, prime=prime)  # the default: form kept
    assert sampler.work["pieces_accepted"] > 0
    assert all(song.startswith(prime) for song in free + metrical + form)
    assert len(free[0]) > len(prime)
    # a plain model's weights do not fit a lookback run, and it says so in one line
    plain = tmp_path / "plain"
    assert main(["music", "train", "--data", str(tunes_file), "--out", str(plain),
                 "--tracking", "off", *tiny_music(steps=2)]) == 0  # fmt: skip
    again = ["music", "train", "--data", str(tunes_file), "--out", str(tmp_path / "x")]
    code = main([*again, "--init-from", str(plain), "--lookback", *tiny_music(steps=2)])
    assert code == 2


# Run in a process of its own: a second MirroredStrategy in the test process can clash
# with another test's collectives (the same instance keys, other shapes).
MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfdl.music.train import MusicConfig, train_music
devices = [d.name for d in tf.config.list_logical_devices("CPU")]
config = MusicConfig(steps=4, rnn_units=8, embedding_dim=4, batch_size=4, seq_length=30,
                     sample_songs=0, lookback=True, eval_every=4)
losses = {}
for name, strategy in (("one", None), ("two", tf.distribute.MirroredStrategy(devices))):
    settings = train_music(config, sys.argv[2] + "/" + name, sys.argv[1], tracking="off",
                           progress=False, strategy=strategy)
    losses[name] = settings["val_loss"]
print(json.dumps({"replicas": len(devices), **losses}))
"""


def test_lookback_model_trains_alike_on_one_device_and_mirrored_on_two(tunes_file, tmp_path):
    import subprocess
    import sys

    argv = [sys.executable, "-c", MIRRORED, str(tunes_file), str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    assert losses["replicas"] == 2
    assert losses["two"] == pytest.approx(losses["one"], rel=1e-4)


@pytest.mark.parametrize(
    "part_offer, counters, clock, notes",
    [(True, True, True, True), (False, True, True, True), (True, True, True, False),
     (True, True, False, False), (True, False, False, False), (False, False, False, False)],
)  # fmt: skip
def test_the_recipe_counts_a_lookback_models_weights(part_offer, counters, clock, notes):
    from tfdl.music.recipe import music_model, parameter_count

    vocab = corpus_vocab(abc.load_corpus()[:4])
    lookback = lookback_for(vocab, part_offer=part_offer, counters=counters, clock=clock,
                            notes=notes)  # fmt: skip
    model = music_model(len(vocab), 16, 24, lookback=lookback)
    model.build((None, None))
    assert parameter_count(len(vocab), 16, 24, lookback) == model.count_params()


def test_the_free_sampler_runs_a_lookback_model_for_any_number_of_songs():
    # the compiled loop is traced once for every batch size (reduce_retracing): the
    # lookback's reading must keep the loop's shapes (it once lost the batch size)
    from tfdl.music.generate import SongSampler

    tunes = abc.load_corpus()[:4]
    vocab = corpus_vocab(tunes)
    sampler = SongSampler(tiny_model(vocab), vocab)
    for songs, prime in ((2, "X:1\n"), (1, "X:1\nK:D\n"), (1, "X:1\nT:a\n"), (3, "X:1\n")):
        written = sampler.sample(songs, length=20, prime=prime, metrical=False)
        assert len(written) == songs and all(s.startswith(prime) for s in written)
