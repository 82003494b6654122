import math

import keras
import numpy as np
import pytest

from tfdl.models import MusicRNN
from tfdl.music.dataset import fixed_windows, join_tunes, random_windows
from tfdl.music.evaluate import evaluate_tunes
from tfdl.music.vocab import Vocabulary


def test_vocabulary_round_trip_and_unknown_characters(tmp_path):
    vocab = Vocabulary.from_text("X:1\nK:D\nabc|\n")
    ids = vocab.encode("abc")
    assert vocab.decode(ids) == "abc"
    with pytest.raises(ValueError, match=r"not in the vocabulary: 'Z', 'ä'"):
        vocab.encode("aZäb")
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == vocab
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a tfdl vocabulary"):
        Vocabulary.load(tmp_path / "bad.json")


def test_join_tunes_ends_each_tune_with_a_blank_line():
    assert join_tunes(["X:1\nK:D\nab", "X:1\nK:G\ncd\n"]) == "X:1\nK:D\nab\n\nX:1\nK:G\ncd\n\n"


def test_random_windows_follow_get_batch_semantics_and_repeat_with_the_seed():
    ids = np.arange(1000, dtype=np.int32)  # id == position, so windows reveal their offsets
    batches = list(random_windows(ids, seq_length=20, batch_size=4, seed=3).take(5))
    for inputs, targets in batches:
        assert inputs.shape == (4, 20) and targets.shape == (4, 20)
        x, y = inputs.numpy(), targets.numpy()
        np.testing.assert_array_equal(y, x + 1)  # target is the input shifted by one
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)  # contiguous windows
    again = list(random_windows(ids, seq_length=20, batch_size=4, seed=3).take(5))
    for (a, _), (b, _) in zip(batches, again):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    other = next(iter(random_windows(ids, seq_length=20, batch_size=4, seed=4)))[0]
    assert not np.array_equal(other.numpy(), batches[0][0].numpy())


def test_fixed_windows_cover_the_text_in_order():
    ids = np.arange(101, dtype=np.int32)
    inputs = np.concatenate([x.numpy() for x, _ in fixed_windows(ids, 10, batch_size=5)])
    np.testing.assert_array_equal(inputs.ravel(), np.arange(100))


def test_windows_reject_text_that_is_too_short():
    with pytest.raises(ValueError, match="too few"):
        random_windows(np.arange(10), seq_length=20, batch_size=2)


def test_evaluate_matches_a_direct_per_tune_computation():
    vocab = Vocabulary.from_text("X:1\nK:DGab|c")
    keras.utils.set_random_seed(0)
    model = MusicRNN(len(vocab), 4, 8)
    tunes = ["X:1\nK:D\nab|c", "X:1\nK:G\nabcabcabcabc|abc|"]  # different lengths: padding
    result = evaluate_tunes(model, vocab, tunes, batch_size=2)
    total, count = 0.0, 0
    for tune in tunes:
        ids = vocab.encode(tune + "\n\n")
        logits = keras.ops.convert_to_numpy(model(ids[None, :-1]))[0]
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        total -= logp[np.arange(len(ids) - 1), ids[1:]].sum()
        count += len(ids) - 1
    assert result["chars"] == count and result["tunes"] == 2
    assert result["loss"] == pytest.approx(total / count, rel=1e-5)
    assert result["bits_per_char"] == pytest.approx(result["loss"] / math.log(2))


def test_evaluate_skips_tunes_with_unknown_characters_and_names_them():
    vocab = Vocabulary.from_text("X:1\nK:D\nab|")
    model = MusicRNN(len(vocab), 2, 2)
    tunes = ["X:1\nK:D\nab|", "X:1\nK:D\nz#|", "X:1\nK:D\nba|"]
    result = evaluate_tunes(model, vocab, tunes)
    assert result["tunes"] == 2
    assert result["skipped_tunes"] == [
        {"tune": 2, "reason": "characters not in the vocabulary: '#', 'z'"}
    ]
    alone = evaluate_tunes(model, vocab, [tunes[0], tunes[2]])
    assert result["loss"] == pytest.approx(alone["loss"]) and result["chars"] == alone["chars"]
    with pytest.raises(ValueError, match="none of the 1 tunes can be scored: tune 1 has"):
        evaluate_tunes(model, vocab, ["X:1\nK:D\nz"])


# -- the lab's batch checks ---------------------------------------------------------------
# MITDeepLearning/introtodeeplearning, mitdeeplearning/lab1.py, as written there; the lab
# runs each on get_batch(vectorized_songs, seq_length=10, batch_size=2) over its songs.


def lab_test_batch_func_types(func, args):
    ret = func(*args)
    assert len(ret) == 2, "[FAIL] test_batch_func_types: Only return 2 values"
    assert type(ret[0]) is np.ndarray, "[FAIL] test_batch_func_types: x is not np.array"
    assert type(ret[1]) is np.ndarray, "[FAIL] test_batch_func_types: y is not np.array"
    return True


def lab_test_batch_func_shapes(func, args):
    dataset, seq_length, batch_size = args
    x, y = func(*args)
    correct = (batch_size, seq_length)
    assert x.shape == correct and y.shape == correct
    return True


def lab_test_batch_func_next_step(func, args):
    x, y = func(*args)
    assert (x[:, 1:] == y[:, :-1]).all(), "x_{t} must equal y_{t-1} for all t"
    return True


def get_batch(vectorized_songs, seq_length, batch_size, seed=0):
    """The lab's get_batch, served by tfdl's windows: numpy (batch, seq_length) twice."""
    inputs, targets = next(iter(random_windows(vectorized_songs, seq_length, batch_size, seed)))
    return inputs.numpy(), targets.numpy()


def test_the_labs_batch_checks_pass_on_tfdls_windows_of_the_shipped_songs():
    from tfdl.music.abc import load_corpus

    text = join_tunes(load_corpus())
    vectorized_songs = np.asarray(Vocabulary.from_text(text).encode(text))
    for seed in range(3):
        args = (vectorized_songs, 10, 2)
        batch = lambda *a, s=seed: get_batch(*a, seed=s)  # noqa: E731
        assert lab_test_batch_func_types(batch, args)
        assert lab_test_batch_func_shapes(batch, args)
        assert lab_test_batch_func_next_step(batch, args)
    # A window one character off (the bug the next-step check exists for) fails it.
    x, _ = get_batch(vectorized_songs, 10, 2)
    with pytest.raises(AssertionError, match="x_{t} must equal"):
        lab_test_batch_func_next_step(lambda *a: (x, x), (vectorized_songs, 10, 2))


def test_a_tune_scored_in_windows_with_its_state_carried_scores_as_it_does_whole():
    vocab = Vocabulary.from_text("X:1\nK:DGab|c")
    keras.utils.set_random_seed(1)
    model = MusicRNN(len(vocab), 4, 8)
    tunes = ["X:1\nK:D\nab|c", "X:1\nK:G\n" + "abcabc|" * 9, "X:1\nK:D\n" + "ab|" * 4]
    whole = evaluate_tunes(model, vocab, tunes, batch_size=2, window=10_000)
    for window in (1, 5, 16):
        windowed = evaluate_tunes(model, vocab, tunes, batch_size=2, window=window)
        assert windowed["chars"] == whole["chars"]
        assert windowed["loss"] == pytest.approx(whole["loss"], rel=1e-5)


def test_windows_are_never_wider_than_asked_and_shed_tunes_that_ended():
    from tfdl.music.evaluate import _windows

    encoded = [np.arange(n) % 5 for n in (3, 40, 1000, 7)]
    shapes, counted = [], 0
    for ids, mask, first, drop in _windows(encoded, batch_size=4, window=16):
        assert ids.shape[1] == 17 and mask.shape == (len(ids), 16)
        shapes.append((len(ids), first, drop))
        counted += int(mask.sum())
    assert counted == sum(len(e) - 1 for e in encoded)
    # 3 and 7 leave after the first window, 40 after the third; 1000 goes on alone
    assert shapes[:4] == [(4, True, 0), (2, False, 2), (2, False, 0), (1, False, 1)]
    assert len(shapes) == -(-999 // 16) and shapes[-1] == (1, False, 0)
