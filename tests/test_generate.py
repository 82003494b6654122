import keras
import numpy as np
import pytest

from tfdl.models import MusicRNN
from tfdl.music.generate import SongSampler
from tfdl.music.vocab import Vocabulary

VOCAB = Vocabulary.from_text("X:1\nM:6/8L:/K:D\nabcdefgABCDEFG|z2 ")


def random_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = MusicRNN(len(VOCAB), 8, 32)
    model.build((None, None))
    return model


def test_top_k_one_is_greedy_decoding_of_the_full_model():
    model = random_model()
    prime = "X:1\nK:D\n"
    song = SongSampler(model, VOCAB).sample(1, length=40, top_k=1, seed=0, prime=prime)[0]
    # reference: the argmax of the full-sequence model at every position
    ids = VOCAB.encode(song)
    logits = keras.ops.convert_to_numpy(model(ids[None, :-1]))[0]
    predicted = logits.argmax(-1)[len(prime) - 1 :]
    np.testing.assert_array_equal(predicted, ids[len(prime) :])


def test_one_song_path_matches_the_batch_path():
    sampler = SongSampler(random_model(2), VOCAB)
    one = sampler.sample(1, length=50, top_k=1, prime="X:1\n")[0]
    batch = sampler.sample(3, length=50, top_k=1, prime="X:1\n")
    assert batch == [one] * 3


def test_same_seed_same_songs_other_seed_other_songs():
    sampler = SongSampler(random_model(), VOCAB)
    a = sampler.sample(4, length=60, seed=7)
    assert a == sampler.sample(4, length=60, seed=7)
    assert a != sampler.sample(4, length=60, seed=8)
    assert len(set(a)) > 1  # songs in one batch differ from each other
    assert all(s.startswith("X:1\n") for s in a)


def test_xla_compiled_loop_gives_the_same_greedy_songs():
    model = random_model(1)
    plain = SongSampler(model, VOCAB).sample(2, length=30, top_k=1, prime="X:1\n")
    compiled = SongSampler(model, VOCAB, jit_compile=True).sample(2, 30, top_k=1, prime="X:1\n")
    assert plain == compiled


def test_songs_stop_at_a_blank_line():
    model = random_model()
    dense_kernel, dense_bias = model.dense.get_weights()
    bias = np.full_like(dense_bias, -20.0)
    bias[VOCAB.index["\n"]] = 20.0  # the model always says "newline"
    model.dense.set_weights([np.zeros_like(dense_kernel), bias])
    songs = SongSampler(model, VOCAB).sample(3, length=500, prime="X:1\nK:D\na")
    # "a" then "\n", then the second "\n" ends the tune; the blank line is not returned
    assert songs == ["X:1\nK:D\na"] * 3


def test_length_limit_and_bad_arguments():
    sampler = SongSampler(random_model(), VOCAB)
    songs = sampler.sample(2, length=25, prime="X:1\n")
    assert all(len(s) <= len("X:1\n") + 25 for s in songs)
    with pytest.raises(ValueError, match="prime has characters not in the vocabulary: 'Q'"):
        sampler.sample(prime="X:1\nQ")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sampler.sample(temperature=0)
    with pytest.raises(ValueError, match="top_k must be between 1 and"):
        sampler.sample(top_k=1000)
