import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import tfdl
from tfdl.layers import DenseLayer, Sampling

DATA = Path(__file__).parent / "data"


def test_dense_layer_matches_numpy_and_keras_dense():
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    layer = DenseLayer(3)
    y = keras.ops.convert_to_numpy(layer(x))
    w, b = layer.get_weights()
    assert w.shape == (5, 3) and b.shape == (1, 3)  # the lab's shapes
    assert np.all(b != 0)  # the lab's bias is drawn, not zeros
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-(x @ w + b))), rtol=1e-5, atol=1e-6)

    reference = keras.layers.Dense(3, activation="sigmoid")
    reference.build((None, 5))
    reference.set_weights([w, b[0]])
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(reference(x)), rtol=1e-5, atol=1e-6)


def test_dense_layer_shapes_weights_and_config():
    layer = DenseLayer(7, name="d")
    assert layer(np.zeros((2, 3, 4), "float32")).shape == (2, 3, 7)
    assert len(layer.trainable_weights) == 2
    clone = DenseLayer.from_config(layer.get_config())
    assert clone.units == 7 and clone.name == "d"


# The lab's expected output (MITDeepLearning/introtodeeplearning, mitdeeplearning/lab1.py,
# test_custom_dense_layer_output): OurDenseLayer(3) built for 2 inputs after
# tf.keras.utils.set_random_seed(1), called on [[1, 2]], checked to 7 decimals.
LAB_DENSE_OUTPUT = np.array([[0.27064407, 0.1826951, 0.50374055]], dtype="float32")


def lab_test_custom_dense_layer_output(y):
    """The lab's check, as it is written there (shape, then 7 decimals)."""
    y = keras.ops.convert_to_numpy(y)
    assert list(y.shape) == list(LAB_DENSE_OUTPUT.shape)
    np.testing.assert_almost_equal(y, LAB_DENSE_OUTPUT, decimal=7)
    print("[PASS] test_custom_dense_layer_output")


def test_dense_layer_passes_the_labs_output_check(capsys):
    keras.utils.set_random_seed(1)
    layer = DenseLayer(3)
    layer.build((1, 2))
    lab_test_custom_dense_layer_output(layer.call(keras.ops.convert_to_tensor([[1, 2.0]])))
    assert "[PASS] test_custom_dense_layer_output" in capsys.readouterr().out
    # Keras Dense's zero bias is an option, and it is not the lab's layer.
    keras.utils.set_random_seed(1)
    zero_bias = DenseLayer(3, bias_initializer="zeros")
    zero_bias.build((1, 2))
    np.testing.assert_array_equal(zero_bias.get_weights()[1], np.zeros((1, 3)))
    with pytest.raises(AssertionError):
        lab_test_custom_dense_layer_output(zero_bias(np.array([[1, 2.0]], "float32")))


def test_dense_layer_config_keeps_its_initializers():
    layer = DenseLayer(4, bias_initializer="zeros")
    clone = DenseLayer.from_config(layer.get_config())
    clone.build((None, 2))
    np.testing.assert_array_equal(clone.get_weights()[1], np.zeros((1, 4)))


def test_dense_layer_file_saved_before_the_lab_bias_still_loads(tmp_path):
    # Saved by tfdl 0.1.0, whose DenseLayer had a zero bias of shape (units,):
    # keras.Sequential([keras.Input((2,)), DenseLayer(3)]), with its outputs on X.
    x = np.array([[1.0, 2.0], [-0.5, 3.0]], "float32")
    model = keras.models.load_model(DATA / "dense_layer_before_lab_bias.keras")
    expected = np.load(DATA / "dense_layer_before_lab_bias_out.npy")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-6)
    assert model.layers[0].get_weights()[1].shape == (1, 3)
    model.save(tmp_path / "again.keras")  # and it saves in today's form
    again = keras.models.load_model(tmp_path / "again.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), expected, rtol=1e-6)


def test_dense_layer_rejects_unknown_last_dimension():
    with pytest.raises(ValueError, match="last dimension is known"):
        DenseLayer(3).build((None, None))
    with pytest.raises(ValueError, match="positive integer"):
        DenseLayer(0)


def test_sampling_statistics_and_seed():
    mean = np.full((20000, 2), 3.0, "float32")
    logvar = np.full((20000, 2), np.log(4.0), "float32")  # std 2
    z = keras.ops.convert_to_numpy(Sampling(seed=1)([mean, logvar]))
    assert abs(z.mean() - 3.0) < 0.05
    assert abs(z.std() - 2.0) < 0.05
    again = keras.ops.convert_to_numpy(Sampling(seed=1)([mean, logvar]))
    np.testing.assert_array_equal(z, again)  # same seed, same draw


def test_sampling_rejects_mismatched_pair():
    with pytest.raises(ValueError, match="one shape"):
        Sampling()([np.zeros((2, 3), "float32"), np.zeros((2, 4), "float32")])


# Keras imported before tfdl, after it, or only by a tfdl module: in each order,
# importing tfdl is all a script needs to load a file of tfdl layers.
IMPORT_ORDERS = {
    "keras first": "import numpy as np, keras\nimport tfdl",
    "tfdl first": "import tfdl\nimport numpy as np, keras",
    "keras through tfdl.training": "import tfdl.training\nimport numpy as np, keras",
}
_CHILD = """
import json, sys
{imports}  # registration only: no custom_objects below
model = keras.models.load_model(sys.argv[1])
x = np.load(sys.argv[2])
out = keras.ops.convert_to_numpy(model(x))
print(json.dumps(out.tolist()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("imports", IMPORT_ORDERS.values(), ids=IMPORT_ORDERS.keys())
def test_keras_file_loads_in_a_fresh_process_without_custom_objects(imports, tmp_path):
    inputs = keras.Input((6,))
    hidden = DenseLayer(4)(inputs)
    z = Sampling(seed=3)([hidden, keras.layers.Dense(4)(hidden)])
    model = keras.Model(inputs, z)
    path = tmp_path / "layers.keras"
    model.save(path)
    x = np.random.default_rng(1).normal(size=(3, 6)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = keras.ops.convert_to_numpy(model(x))  # first draw after saving

    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(imports=imports), str(path), str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = np.array(json.loads(out.stdout.strip().splitlines()[-1]), "float32")
    np.testing.assert_allclose(loaded, expected, rtol=1e-6, atol=1e-6)


def test_public_names_are_registered():
    for obj in (tfdl.DenseLayer, tfdl.Sampling, tfdl.models.SubclassModel):
        name = keras.saving.get_registered_name(obj)
        assert name.startswith("tfdl>")
        assert keras.saving.get_registered_object(name) is obj


def test_import_tfdl_and_the_commands_help_load_no_tensorflow():
    code = (
        "import sys, tfdl, tfdl.cli\n"
        "from tfdl.cli import _parser\n"
        "_parser()\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'music21') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "tfdl.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert help_text.stdout.strip() == f"tfdl {tfdl.__version__}"
