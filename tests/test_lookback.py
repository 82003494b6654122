"""The lookback model: its bar reading against a plain-Python reading, the model's
layer contract (shapes, weights, config, .keras), and training and sampling with it."""

import json

import keras
import numpy as np
import pytest
from conftest import tiny_music

from tfdl.music import abc
from tfdl.music.dataset import join_tunes
from tfdl.music.lookback import SKIP_CHARS, BarLookback, LookbackRNN, lookback_for
from tfdl.music.vocab import Vocabulary


def offers_by_hand(text, bar_chars, bars=8, phrase_bars=4):
    """The lookback's offers for each character of ``text``, read in plain Python: a
    second implementation of the rule in `tfdl.music.lookback`'s docstring."""
    done, cur, lead, offered, last, out = [], [], True, (None, None), None, []
    for char in text:
        repeats = [int(o is not None and o == char) for o in offered]
        if char == "\n" and last == "\n":  # a blank line: the next tune starts afresh
            done = []
        if char == "|":
            if not lead:  # a bar with something in it closes
                done = [cur, *done][:bars]
            cur, lead = [], True
        elif char == "\n":
            cur, lead = [], True
        elif not (lead and char in SKIP_CHARS):
            lead = False
            cur = cur + [char if len(cur) < bar_chars else None]
        at = len(cur)

        def following(bar, at=at):
            return bar[at] if at < min(len(bar), bar_chars) else None

        phrase = following(done[phrase_bars - 1]) if len(done) >= phrase_bars else None
        matching = [
            following(bar) for bar in done
            if 0 < at < bar_chars and bar[:at] == cur[:at] and following(bar) is not None
        ]  # fmt: skip
        offered = (phrase, matching[0] if matching else None)
        out.append((*offered, *repeats))
        last = char
    return out


def corpus_vocab(tunes):
    return Vocabulary.from_text(join_tunes(tunes))


@pytest.mark.parametrize("bar_chars", [32, 4])
def test_bar_lookback_reads_tunes_as_plain_python_does(bar_chars):
    tunes = abc.load_corpus()[:6]
    text = join_tunes(tunes)
    vocab = corpus_vocab(tunes)
    layer = BarLookback(**lookback_for(vocab, bar_chars=bar_chars))
    offers, state = layer(vocab.encode(text)[None, :])
    code = {None: 0, **{c: i + 1 for i, c in enumerate(vocab.chars)}}
    expected = [(code[a], code[b], m1, m2) for a, b, m1, m2 in offers_by_hand(text, bar_chars)]
    np.testing.assert_array_equal(offers.numpy()[0], np.array(expected))
    assert state.shape == (1, 9 * bar_chars + 5)  # 8 bars and the current one


def test_bar_lookback_offers_a_phrase_four_bars_back_and_follows_a_restated_bar():
    text = "K:D\n|:ABc d2|ABc e2|fed cBA|G2F E2D||\nABc d2|gab agf|"
    vocab = Vocabulary.from_text(text)
    offers, _ = BarLookback(**lookback_for(vocab))(vocab.encode(text)[None, :])
    offers = offers.numpy()[0]

    def chars(column, start, stop):
        return "".join("_" if o == 0 else vocab.chars[o - 1] for o in offers[start:stop, column])

    fifth = text.index("\nABc d2")  # the fifth bar starts after this line break
    # the phrase offer: bar 1 at each position (its "|:" holds none)
    assert chars(0, fifth, fifth + 6) == "ABc d2"
    # the match offer: none at the bar's start; after "A" the latest bar that began
    # with "A" is bar 2, whose "Bc " goes on; after "ABc " bar 2 still matches ("e")
    assert chars(1, fifth, fifth + 5) == "_Bc e"
    assert list(offers[fifth + 1 : fifth + 5, 2]) == [1, 1, 1, 1]  # "ABc " as phrased
    # "d" left bar 2 behind: the match offer has bar 1's next character ("2")
    assert chars(1, fifth + 5, fifth + 6) == "2" and offers[fifth + 6, 3] == 1
    sixth = text.rindex("|gab")
    assert chars(0, sixth, sixth + 3) == "ABc"  # bar 2, four bars back
    assert chars(1, sixth + 1, sixth + 2) == "_"  # no bar began with "g": no match
    assert not offers[: text.index("|fed"), 0].any()  # no bar 4 back before bar 5


def tiny_model(vocab, **changes):
    settings = {"embedding_dim": 8, "rnn_units": 16, **changes}
    model = LookbackRNN(len(vocab), lookback=lookback_for(vocab), **settings)
    model.build((None, None))
    return model


def test_lookback_rnn_shapes_weights_and_step_match_call():
    tunes = abc.load_corpus()[:4]
    vocab = corpus_vocab(tunes)
    model = tiny_model(vocab)
    # character and offer embeddings, LSTM kernel (3 embeddings + 2 matches wide),
    # recurrent kernel, bias, dense kernel and bias
    assert len(model.weights) == 7
    assert model.lstm.cell.kernel.shape == (3 * 8 + 2, 64)
    ids = vocab.encode(join_tunes(tunes)[:150])[None, :]
    logits, (h, c, lookback) = model(ids, return_state=True)
    assert logits.shape == (1, 150, len(vocab)) and h.shape == (1, 16)
    state = [np.zeros((1, 16), "float32"), np.zeros((1, 16), "float32")]
    state.append(model.lookback.initial_state(1))
    stepped = []
    for t in range(ids.shape[1]):
        step_logits, state = model.step(ids[:, t], state)
        stepped.append(step_logits.numpy())
    np.testing.assert_allclose(np.stack(stepped, 1), logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(state[2].numpy(), lookback.numpy())
    # the step on transposed recurrent blocks (the one-song path) agrees too
    again, _ = model.step(ids[:, 0], [np.zeros((1, 16), "float32")] * 2 + [state[2]],
                          recurrent_blocks_t=model.recurrent_blocks_t())  # fmt: skip
    direct, _ = model.step(ids[:, 0], [np.zeros((1, 16), "float32")] * 2 + [state[2]])
    np.testing.assert_allclose(again.numpy(), direct.numpy(), atol=1e-5)


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
