"""Tests for tfinpaint.methods: the ablations and the errors for missing exports."""

import numpy as np
import pytest

from tests import helpers
from tfinpaint import export, masks, methods
from tfinpaint.errors import InputError
from tfinpaint.inpainting import classifier_guided, semantic


def _tiny_export(seed):
  net = helpers.tiny_classifier(3, seed)
  inp = classifier_guided.ClassifierInpainter(net, num_classes=3, image_shape=(16, 16, 1),
                                              step_size=2.0, lambda_tv=0.05, epsilon=0.0,
                                              max_iterations=5)
  return methods.Exported(path=f"tiny{seed}", kind=methods.CLASSIFIER_KIND, inpainter=inp,
                          overrides={}, iterations=5)


def test_ablations_tv_only_ignores_the_classifier_and_diffusion_only_is_the_init():
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


def test_names_agree_with_the_library():
  # methods repeats these names so that a bad --model_dir fails before TensorFlow is imported.
  assert (methods.NETWORKS_DIR, methods.CONFIG_FILE) == (export.NETWORKS_DIR, export.CONFIG_FILE)
  assert methods.CLASSIFIER_KIND == classifier_guided.KIND
  assert methods.SEMANTIC_KIND == semantic.KIND


def test_load_rebuilds_both_kinds_and_raises_the_cap(tmp_path):
  from tests import test_semantic as tiny  # pylint: disable=g-import-not-at-top
  shape = (tiny.SIZE, tiny.SIZE, tiny.CHANNELS)
  gan = semantic.SemanticInpainter(tiny.tiny_generator(), tiny.tiny_discriminator(), None,
                                   z_dim=tiny.Z_DIM, image_shape=shape, num_starts=1,
                                   max_iterations=2, blend=False)
  semantic.save_networks(gan, tmp_path / "gan")
  classifier_guided.save_networks(_tiny_export(0).inpainter, tmp_path / "cg")
  loaded = methods.load(str(tmp_path / "gan"), iterations=3)
  assert loaded.kind == methods.SEMANTIC_KIND and loaded.methods == methods.SEMANTIC_METHODS
  assert loaded.inpainter.max_iterations == 3 and loaded.image_shape == shape
  assert methods.load(str(tmp_path / "gan"), iterations=1).inpainter.max_iterations == 2
  x = np.random.default_rng(0).uniform(-1, 1, (2,) + shape).astype(np.float32)
  m = masks.make("center", 2, tiny.SIZE, tiny.SIZE)
  out = methods.make("yeh", [loaded], iterations=3)(x, m, None, "center")
  assert out["inpainted"].shape == x.shape and (out["iterations"] == 3).all()
  np.testing.assert_array_equal(out["inpainted"][m[..., 0] == 1], x[m[..., 0] == 1])
  cg = methods.load(str(tmp_path / "cg"), iterations=9, jitter=1)
  assert cg.kind == methods.CLASSIFIER_KIND and cg.inpainter.max_iterations == 9
  assert cg.inpainter.jitter == 1 and cg.overrides == {"max_iterations": 9, "jitter": 1}
  # Without a recorded serving count the default is the module's cap.
  assert cg.iterations == 9 and methods.load(str(tmp_path / "cg")).iterations == 5
  with pytest.raises(InputError, match="inpainter kind 'other'"):
    (tmp_path / "other" / "networks").mkdir(parents=True)
    (tmp_path / "other" / "networks" / "inpainter.json").write_text('{"kind": "other"}')
    methods.load(str(tmp_path / "other"))


def test_default_iterations_are_the_served_ones(tmp_path):
  # bin.inpaint / bin.evaluate without --iterations must run what serving_default runs.
  inp = _tiny_export(0).inpainter
  classifier_guided.save_networks(inp, tmp_path / "cg", serving_iterations=3)
  loaded = methods.load(str(tmp_path / "cg"))
  assert loaded.iterations == 3 and loaded.inpainter.max_iterations == 5
  x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
  m = masks.make("center", 2, 16, 16)
  out = methods.make("classifier", [loaded], label=1, true_labels=False)(x, m, None, "center")
  assert (out["iterations"] == 3).all()
