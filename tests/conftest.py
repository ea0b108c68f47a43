"""Session-wide TensorFlow setup, imported by pytest before any test module.

Splits the physical CPU into 2 logical devices so that MirroredStrategy has 2 replicas and the
multi-replica training path is tested on any machine. This must happen before the first TF op
runs (the runtime fixes its devices then), hence at import time here and nowhere else.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
