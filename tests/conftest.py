"""Test set-up: quiet TensorFlow, and two logical CPUs so MirroredStrategy has replicas."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COMET_DISABLE_AUTO_LOGGING", "1")
os.environ.pop("COMET_API_KEY", None)  # tests never go online

import tensorflow as tf  # noqa: E402

# Must run before TensorFlow initialises its devices, i.e. before any test touches a tensor.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
