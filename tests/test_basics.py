import keras
import numpy as np

from tfdl.models import IdentityModel, SubclassModel
from tfdl.models.basics import derivative_of_square, minimise_squared_distance


def test_subclass_model_is_one_sigmoid_dense_layer():
    model = SubclassModel(3)
    x = np.array([[1.0, 2.0]], "float32")
    y = keras.ops.convert_to_numpy(model(x))
    w, b = model.get_weights()
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-(x @ w + b))), rtol=1e-6)
    assert model.count_params() == 2 * 3 + 3


def test_identity_model_returns_input_only_when_asked():
    model = IdentityModel(2)
    x = np.array([[1.0, 2.0]], "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, isidentity=True)), x)
    assert not np.allclose(keras.ops.convert_to_numpy(model(x)), x)


def test_models_round_trip_through_keras_file(tmp_path):
    model = IdentityModel(3)
    x = np.ones((2, 4), "float32")
    y = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, IdentityModel)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y)


def test_gradient_of_square_at_three_is_six():
    assert derivative_of_square(3.0) == 6.0
    assert derivative_of_square(-1.5) == -3.0


def test_gradient_descent_finds_the_minimum():
    x, history = minimise_squared_distance(4.0, learning_rate=1e-2, steps=500)
    assert abs(x - 4.0) < 1e-3
    # distance to the target shrinks monotonically
    distances = np.abs(np.array(history) - 4.0)
    assert np.all(np.diff(distances) <= 1e-7)
