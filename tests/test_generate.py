import re

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
    song = SongSampler(model, VOCAB).sample(
        1, length=40, top_k=1, seed=0, prime=prime, metrical=False
    )[0]
    # reference: the argmax of the full-sequence model at every position
    ids = VOCAB.encode(song)
    logits = keras.ops.convert_to_numpy(model(ids[None, :-1]))[0]
    predicted = logits.argmax(-1)[len(prime) - 1 :]
    np.testing.assert_array_equal(predicted, ids[len(prime) :])


def test_one_song_path_matches_the_batch_path():
    sampler = SongSampler(random_model(2), VOCAB)
    one = sampler.sample(1, length=50, top_k=1, prime="X:1\n", metrical=False)[0]
    batch = sampler.sample(3, length=50, top_k=1, prime="X:1\n", metrical=False)
    assert batch == [one] * 3


def test_same_seed_same_songs_other_seed_other_songs():
    sampler = SongSampler(random_model(), VOCAB)
    a = sampler.sample(4, length=60, seed=7, metrical=False)
    assert a == sampler.sample(4, length=60, seed=7, metrical=False)
    assert a != sampler.sample(4, length=60, seed=8, metrical=False)
    assert len(set(a)) > 1  # songs in one batch differ from each other
    assert all(s.startswith("X:1\n") for s in a)


def test_xla_compiled_loop_gives_the_same_greedy_songs():
    model = random_model(1)
    plain = SongSampler(model, VOCAB).sample(2, length=30, top_k=1, prime="X:1\n", metrical=False)
    compiled = SongSampler(model, VOCAB, jit_compile=True).sample(
        2, 30, top_k=1, prime="X:1\n", metrical=False
    )
    assert plain == compiled


def test_songs_stop_at_a_blank_line():
    model = random_model()
    dense_kernel, dense_bias = model.dense.get_weights()
    bias = np.full_like(dense_bias, -20.0)
    bias[VOCAB.index["\n"]] = 20.0  # the model always says "newline"
    model.dense.set_weights([np.zeros_like(dense_kernel), bias])
    songs = SongSampler(model, VOCAB).sample(3, length=500, prime="X:1\nK:D\na", metrical=False)
    # "a" then "\n", then the second "\n" ends the tune; the blank line is not returned
    assert songs == ["X:1\nK:D\na"] * 3


def test_length_limit_and_bad_arguments():
    sampler = SongSampler(random_model(), VOCAB)
    songs = sampler.sample(2, length=25, prime="X:1\n", metrical=False)
    assert all(len(s) <= len("X:1\n") + 25 for s in songs)
    with pytest.raises(ValueError, match="prime has characters not in the vocabulary: 'Q'"):
        sampler.sample(prime="X:1\nQ")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sampler.sample(temperature=0, metrical=False)
    with pytest.raises(ValueError, match="top_k must be between 1 and"):
        sampler.sample(top_k=1000, metrical=False)


# -- the metrical sampler (the default) ---------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    from tfdl.music.saved import load_music_model, pretrained_dir

    model, vocab, _ = load_music_model(pretrained_dir())
    return SongSampler(model, vocab)


def test_metrical_songs_have_every_bar_the_meters_length(shipped):
    from tfdl.music.meter import check_bars

    prime = "X:1\nM:6/8\nL:1/8\nK:D\n"
    songs = shipped.sample(6, length=600, seed=3, prime=prime)
    assert all(s.startswith(prime) for s in songs)
    checks = [check_bars(s, pickup_parts=False) for s in songs]
    assert all(c.metrical for c in checks), [c.reason for c in checks]
    assert all(c.bars >= 4 for c in checks)
    # the same model, unconstrained, from the same seed: bars come out of any length
    free = shipped.sample(6, length=600, seed=3, prime=prime, metrical=False)
    assert free != songs


def test_metrical_sampling_is_reproducible_and_one_song_matches_itself(shipped):
    a = shipped.sample(3, length=300, seed=11)
    assert a == shipped.sample(3, length=300, seed=11)
    assert len(set(a)) == 3
    one = shipped.sample(1, length=300, seed=11)
    assert one == shipped.sample(1, length=300, seed=11)


def test_metrical_sampler_never_passes_its_length_limit(shipped):
    songs = shipped.sample(4, length=120, seed=5, prime="X:1\nM:C\nL:1/8\nK:G\n")
    assert all(len(s) <= len("X:1\nM:C\nL:1/8\nK:G\n") + 120 for s in songs)
    for song in songs:  # cut at its last accepted bar line, not in mid-bar
        assert song.rstrip().endswith(("|", ":", "]", "\nK:G")), song


@pytest.mark.parametrize(
    "prime, message",
    [
        ("X:1\nM:13/0\nK:D\n", "prime has M:13/0, which is no meter ABC knows"),
        ("X:1\nM:6/8\nK:D\nDED DF", "prime ends in mid-bar"),
        ("X:1\nK:D\n", "prime's header: missing field: no M: line"),
        ("X:1\nT:Half a lin", "prime ends inside the header line 'T:Half a lin'"),
    ],
)
def test_metrical_sampler_refuses_a_prime_it_cannot_continue(shipped, prime, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        shipped.sample(1, length=50, prime=prime)
    # the unconstrained sampler takes it
    assert shipped.sample(1, length=5, prime=prime, metrical=False)[0].startswith(prime)


def sampler_plan(tune_type):
    from tfdl.music.grammar import form_plan

    return form_plan(tune_type, None, None, None)


def test_form_keeping_with_a_tiny_model_stays_in_form_and_is_reproducible():
    from tfdl.music.form import read_form

    sampler = SongSampler(random_model(), VOCAB)
    prime = "X:1\nM:6/8\nL:1/8\nK:D\n"
    songs = sampler.sample(2, length=150, seed=0, prime=prime, type="jig")
    assert songs == sampler.sample(2, length=150, seed=0, prime=prime, type="jig")
    for song in songs:
        assert song.startswith(prime) and len(song) <= len(prime) + 150
        # out of room before the form is complete: whatever parts it closed have 8 bars
        assert all(s.bars == 8 for s in read_form(song).sections[:-1])
    # each was written again from the prime with other noise, and is still unfinished;
    # after two rounds that finished none the sampler stopped: three tries in all
    from tfdl.music.generate import FRUITLESS_RETRIES

    assert sampler.gave_up == 2
    tries = [
        sampler._sample_metrical(
            np.tile(VOCAB.encode(prime), (2, 1)),
            prime,
            150,
            1.0,
            len(VOCAB),
            seed,
            sampler_plan("jig"),
        )  # fmt: skip
        for seed in (0, 7919, 2 * 7919)[: 1 + FRUITLESS_RETRIES]
    ]
    assert all(song.gave_up for songs_tried in tries for song in songs_tried)
    accepted = sum(song.accepted for songs_tried in tries for song in songs_tried)
    assert sampler.work["pieces_accepted"] == accepted
    assert [song.text for song in tries[-1]] == songs  # the last try's songs came back


def test_shipped_model_keeps_a_reels_form(shipped):
    from tfdl.music.form import read_form

    songs = shipped.sample(4, length=1500, seed=1, type="reel", key="D")
    for song in songs:
        form = read_form(song)
        assert "\nM:C|\n" in song and "\nK:D\n" in song
        assert form.shape == (8, 8) and form.name() == "AABB" and form.ends_on_tonic, song
    free = shipped.sample(4, length=1500, seed=1, type="reel", key="D", form="free")
    assert free != songs
