"""Tests for tfinpaint.methods: the ablations and the errors for missing exports."""

import numpy as np
import pytest

from tfinpaint import masks, methods
from tfinpaint.errors import InputError


def _tiny_export(seed):
  import keras  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import classifier_guided  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((16, 16, 1))
  x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh")(inputs)
  net = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
  inp = classifier_guided.ClassifierInpainter(net, num_classes=3, image_shape=(16, 16, 1),
                                              step_size=2.0, lambda_tv=0.05, epsilon=0.0,
                                              max_iterations=5)
  return methods.Exported(path=f"tiny{seed}", kind=methods.CLASSIFIER_KIND, inpainter=inp,
                          overrides={})


def test_ablations_tv_only_ignores_the_classifier_and_diffusion_only_is_the_init():
  from tfinpaint.inpainting import classifier_guided  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
  m = masks.make("center", 2, 16, 16)
  a, b = _tiny_export(0), _tiny_export(1)
  tv_a = methods.make("tv_only", [a], iterations=5)(x, m, None, "center")["inpainted"]
  tv_b = methods.make("tv_only", [b], iterations=5)(x, m, None, "center")["inpainted"]
  np.testing.assert_allclose(tv_a, tv_b, atol=1e-6)
  full = methods.make("classifier", [a], iterations=5, label=1, true_labels=False)
  assert np.abs(full(x, m, None, "center")["inpainted"] - tv_a).max() > 1e-4
  init = methods.make("diffusion_only", [a])(x, m, None, "center")["inpainted"]
  np.testing.assert_allclose(init, classifier_guided.diffuse(x, m, 100).numpy() * (1 - m) + x * m,
                             atol=1e-6)
  with pytest.raises(InputError, match="semantic"):
    methods.make("full", [a])


def test_read_kind_errors(tmp_path):
  with pytest.raises(InputError, match="no such model folder"):
    methods.read_kind(str(tmp_path / "missing"))
  with pytest.raises(InputError, match="not an exported model"):
    methods.read_kind(str(tmp_path))
