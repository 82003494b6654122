import keras
import numpy as np
import pytest

from tfdl.models import MusicRNN


def small_model(vocab=11, seed=0):
    keras.utils.set_random_seed(seed)
    model = MusicRNN(vocab, embedding_dim=8, rnn_units=16)
    model.build((None, None))
    return model


def test_parameter_counts_match_the_lab():
    model = MusicRNN(83, embedding_dim=256, rnn_units=1024)
    model.build((None, None))
    assert model.embedding.count_params() == 21_248
    assert model.lstm.count_params() == 5_246_976
    assert model.dense.count_params() == 85_075


def test_lstm_keeps_the_arguments_that_allow_cudnn():
    lstm = small_model().lstm
    assert lstm.activation.__name__ == "tanh"
    assert lstm.recurrent_activation.__name__ == "sigmoid"
    assert lstm.recurrent_dropout == 0 and not lstm.unroll and lstm.use_bias
    assert lstm.use_cudnn in ("auto", True)


def test_any_batch_size_and_explicit_state():
    model = small_model()
    ids = np.random.default_rng(0).integers(0, 11, size=(3, 12)).astype("int32")
    full = keras.ops.convert_to_numpy(model(ids))
    assert full.shape == (3, 12, 11)
    # the same sequence in two halves, carrying the state across, gives the same logits
    first, state = model(ids[:, :5], return_state=True)
    second = model(ids[:, 5:], initial_state=state)
    halves = np.concatenate(
        [keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)], 1
    )
    np.testing.assert_allclose(halves, full, rtol=1e-5, atol=1e-5)
    single = model(ids[:1])  # batch 1 from the same model, no rebuild
    np.testing.assert_allclose(keras.ops.convert_to_numpy(single), full[:1], rtol=1e-5, atol=1e-5)


def test_step_matches_the_full_sequence_call():
    model = small_model()
    ids = np.random.default_rng(1).integers(0, 11, size=(4, 9)).astype("int32")
    full = keras.ops.convert_to_numpy(model(ids))
    state = [np.zeros((4, 16), "float32"), np.zeros((4, 16), "float32")]
    table = model.input_table()
    for t in range(9):
        logits, state = model.step(ids[:, t], state, table)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), full[:, t], atol=1e-5)


def test_saves_and_loads_as_keras_file(tmp_path):
    model = small_model()
    ids = np.arange(10, dtype="int32").reshape(2, 5)
    model.save(tmp_path / "music.keras")
    loaded = keras.models.load_model(tmp_path / "music.keras")
    assert isinstance(loaded, MusicRNN)
    assert (loaded.vocab_size, loaded.embedding_dim, loaded.rnn_units) == (11, 8, 16)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(ids)), keras.ops.convert_to_numpy(model(ids)), atol=1e-6
    )


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="rnn_units must be a positive integer"):
        MusicRNN(10, 4, 0)


def test_step_with_transposed_recurrent_blocks_gives_the_same_numbers():
    model = small_model()
    ids = np.array([[3], [5]], "int32")[:1, 0]  # one song
    state = [np.random.default_rng(2).normal(size=(1, 16)).astype("float32")] * 2
    plain, plain_state = model.step(ids, state)
    blocked, blocked_state = model.step(ids, state, recurrent_blocks_t=model.recurrent_blocks_t())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(blocked), keras.ops.convert_to_numpy(plain), atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(blocked_state[1]),
        keras.ops.convert_to_numpy(plain_state[1]),
        atol=1e-5,
    )


def test_dropout_acts_only_while_training(tmp_path):
    plain = small_model()
    keras.utils.set_random_seed(0)
    dropping = MusicRNN(11, embedding_dim=8, rnn_units=16, dropout=0.5)
    dropping.build((None, None))
    dropping.set_weights(plain.get_weights())  # dropout adds no weights
    ids = np.random.default_rng(3).integers(0, 11, size=(2, 7)).astype("int32")
    expected = keras.ops.convert_to_numpy(plain(ids))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dropping(ids)), expected, atol=1e-6)
    trained = keras.ops.convert_to_numpy(dropping(ids, training=True))
    assert np.abs(trained - expected).max() > 1e-2
    # generation steps never drop
    state = [np.zeros((2, 16), "float32")] * 2
    logits, _ = dropping.step(ids[:, 0], state)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), expected[:, 0], atol=1e-5)
    dropping.save(tmp_path / "dropping.keras")
    loaded = keras.models.load_model(tmp_path / "dropping.keras")
    assert loaded.dropout == 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(ids)), expected, atol=1e-6)


def test_rejects_bad_dropout():
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        MusicRNN(10, 4, 8, dropout=1.0)


def test_a_keras_file_saved_before_the_task_layout_still_loads():
    # Saved when MusicRNN lived in tfdl.models.music_rnn (its config records that module).
    import zipfile
    from pathlib import Path

    data = Path(__file__).parent / "data"
    path = data / "music_rnn_before_layout.keras"
    with zipfile.ZipFile(path) as archive:
        assert b'"module": "tfdl.models.music_rnn"' in archive.read("config.json")
    model = keras.models.load_model(path)
    assert type(model).__module__ == "tfdl.music.model"
    logits = keras.ops.convert_to_numpy(model(np.array([[1, 2, 3, 4]], "int32")))
    np.testing.assert_allclose(
        logits, np.load(data / "music_rnn_before_layout_logits.npy"), rtol=1e-5
    )
