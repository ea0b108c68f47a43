"""GoogLeNet of paper 000: pools removed, aux heads, endpoints, Caffe .npy loading + freezing."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tfinpaint.errors import InputError
from tfinpaint.models import googlenet
from tfinpaint.models.googlenet import GoogLeNetConfig


def _build(image_shape, num_classes, **architecture):
  """The builder with every architecture keyword given: the defaults live in GoogLeNetConfig."""
  defaults = GoogLeNetConfig()
  kwargs = dict(dict(width=defaults.width, dropout=defaults.dropout,
                     aux_heads=defaults.aux_heads), **architecture)
  return googlenet.build(image_shape, num_classes, **kwargs)


@pytest.fixture(scope="module")
def small():
  return GoogLeNetConfig(width=0.25).build((32, 32, 1), 10)["model"]


@pytest.fixture(scope="module")
def full():
  # width 1.0 is the only loadable width; a 32x32 input keeps it cheap to build.
  return GoogLeNetConfig(width=1.0).build((32, 32, 3), 10)["model"]


def test_output_dict(small):
  out = small(np.zeros((2, 32, 32, 1), np.float32), training=False)
  assert set(out) == {"logits", "aux1", "aux2"}
  assert all(tuple(v.shape) == (2, 10) for v in out.values())
  no_aux = GoogLeNetConfig(width=0.25, aux_heads=False).build((32, 32, 1), 7)["model"]
  out = no_aux(np.zeros((1, 32, 32, 1), np.float32))
  assert set(out) == {"logits"} and tuple(out["logits"].shape) == (1, 7)


def test_first_two_max_pools_removed():
  model = _build((64, 64, 3), 196, width=0.25)
  # conv1 has stride 2 (64 -> 32); with pool1 and pool2 gone 3a/3b stay at 32
  # (the original net would be at 64 / 8 = 8); pool3 -> 16 for 4a-4e, pool4 -> 8 for 5a/5b.
  sizes = {n: tuple(model.get_layer(n).output.shape[1:3]) for n in googlenet.MODULES}
  assert sizes == {"inception_3a": (32, 32), "inception_3b": (32, 32),
                   "inception_4a": (16, 16), "inception_4b": (16, 16), "inception_4c": (16, 16),
                   "inception_4d": (16, 16), "inception_4e": (16, 16),
                   "inception_5a": (8, 8), "inception_5b": (8, 8)}
  strided_pools = [l.name for l in model.layers
                   if isinstance(l, layers.MaxPooling2D) and l.strides == (2, 2)]
  assert strided_pools == ["pool3_3x3_s2", "pool4_3x3_s2"]


def test_channels_follow_szegedy_table(full):
  channels = {n: full.get_layer(n).output.shape[-1] for n in googlenet.MODULES}
  assert channels == {"inception_3a": 256, "inception_3b": 480, "inception_4a": 512,
                      "inception_4b": 512, "inception_4c": 512, "inception_4d": 528,
                      "inception_4e": 832, "inception_5a": 832, "inception_5b": 1024}


def test_aux_heads_and_dropout(full):
  for head, after in (("loss1", "inception_4a"), ("loss2", "inception_4d")):
    pool = full.get_layer(f"{head}_ave_pool")
    assert pool.pool_size == (5, 5) and pool.strides == (3, 3)
    assert pool.input is full.get_layer(after).output
    assert full.get_layer(f"{head}_conv").filters == 128
    assert full.get_layer(f"{head}_fc").units == 512
    assert full.get_layer(f"{head}_classifier").units == 10
  rates = {l.name: l.rate for l in full.layers if isinstance(l, layers.Dropout)}
  assert rates == {"loss1_drop_fc": 0.3, "loss2_drop_fc": 0.3, "pool5_drop_7x7_s1": 0.3}


def test_dropout_only_in_training(small):
  x = np.random.RandomState(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
  a = small(x, training=False)["logits"]
  b = small(x, training=False)["logits"]
  c = small(x, training=True)["logits"]
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def test_endpoints(small):
  ends = googlenet.endpoints(small)
  x = np.random.RandomState(1).uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)

  @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 1])])
  def f(images):
    return ends(images, training=False)

  out = f(x)
  assert set(out) == {"inception_3b", "inception_4b", "logits"}
  assert tuple(out["inception_3b"].shape) == (3, 16, 16, 120)  # 32+48+24+16 at width 0.25
  assert tuple(out["inception_4b"].shape) == (3, 8, 8, 128)
  assert float(tf.reduce_min(out["inception_3b"])) >= 0.0  # post-ReLU activations
  np.testing.assert_allclose(out["logits"], small(x, training=False)["logits"], rtol=1e-5,
                             atol=1e-6)
  with pytest.raises(InputError):
    googlenet.endpoints(small, names=("inception_9z",))


def test_keras_file_round_trip(small, tmp_path):
  # The exporter ships networks as .keras files: the LRN layer must deserialise.
  path = str(tmp_path / "googlenet.keras")
  small.save(path)
  loaded = keras.models.load_model(path)
  x = np.random.RandomState(3).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
  want, got = small(x, training=False), loaded(x, training=False)
  assert set(got) == set(want)
  for key in want:
    np.testing.assert_array_equal(got[key], want[key])
  assert isinstance(loaded.get_layer("pool1_norm1"), googlenet.LocalResponseNorm)


def _fake_caffe(model):
  """A googlenet.npy-like dict with the model's own shapes (Caffe fc sizes for the heads)."""
  rs = np.random.RandomState(0)
  params = {}
  for i, layer in enumerate(l for l in model.layers
                            if isinstance(l, (layers.Conv2D, layers.Dense))):
    kernel, bias = (tuple(v.shape) for v in layer.weights)
    if layer.name == "conv1_7x7_s2":
      kernel = (7, 7, 3, 64)
    if layer.name.endswith("_fc"):
      kernel, bias = (kernel[0], 1024), (1024,)  # Caffe's aux fc has 1024 units
    if layer.name.endswith("classifier"):
      kernel, bias = (kernel[0], 1000), (1000,)  # ImageNet classes
    w = (rs.standard_normal(kernel) * 0.01).astype(np.float32)
    b = (rs.standard_normal(bias) * 0.01).astype(np.float32)
    params[layer.name] = {"weights": w, "biases": b} if i % 2 else {0: w, 1: b}
  return params


def test_load_caffe_npy_and_freeze(full, tmp_path):
  params = _fake_caffe(full)
  path = str(tmp_path / "googlenet.npy")
  np.save(path, params, allow_pickle=True)
  trainable_before = {id(v) for v in full.trainable_weights}
  report = googlenet.load_caffe_npy(full, path)

  assert sorted(report["skipped"]) == ["loss1_classifier", "loss1_fc", "loss2_classifier",
                                       "loss2_fc", "loss3_classifier"]
  assert "loss1_conv" in report["loaded"] and "inception_5b_pool_proj" in report["loaded"]
  for name in ("inception_4b_3x3", "conv2_3x3", "inception_3a_pool_proj", "loss2_conv"):
    entry = params[name]
    w, b = entry.get("weights", entry.get(0)), entry.get("biases", entry.get(1))
    np.testing.assert_array_equal(full.get_layer(name).get_weights()[0], w)
    np.testing.assert_array_equal(full.get_layer(name).get_weights()[1], b)

  # conv1 now takes [-1, 1] RGB: same response as Caffe's conv on BGR 0..255 minus the mean.
  entry = params["conv1_7x7_s2"]
  w, b = entry.get("weights", entry.get(0)), entry.get("biases", entry.get(1))
  x = np.random.RandomState(2).uniform(-1, 1, (1, 15, 15, 3)).astype(np.float32)
  caffe_x = (x[..., ::-1] + 1) * 127.5 - np.array([104.0, 117.0, 123.0], np.float32)
  want = tf.nn.conv2d(caffe_x, w, 1, "VALID") + b
  w1, b1 = full.get_layer("conv1_7x7_s2").get_weights()
  got = tf.nn.conv2d(x, w1, 1, "VALID") + b1
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)

  for layer in full.layers:
    frozen = layer.name.split("_")[:2] in (["inception", "4a"], ["inception", "4b"],
                                          ["inception", "4c"])
    assert layer.trainable == (not frozen), layer.name
  assert "inception_4a_1x1" in report["frozen"] and "inception_4c" in report["frozen"]
  frozen_vars = {id(v) for n in ("inception_4a", "inception_4b", "inception_4c")
                 for l in full.layers if l.name.startswith(n + "_") for v in l.weights}
  assert len(frozen_vars) == 3 * 12  # six convs with kernel + bias per module
  assert {id(v) for v in full.trainable_weights} == trainable_before - frozen_vars


def test_load_caffe_npy_grey_input(tmp_path):
  model = _build((32, 32, 1), 1000, width=1.0, aux_heads=False)
  params = _fake_caffe(model)
  path = str(tmp_path / "g.npy")
  np.save(path, params, allow_pickle=True)
  report = googlenet.load_caffe_npy(model, path, freeze=())
  assert report["skipped"] == [] and report["frozen"] == []  # 1000 classes: classifier loads
  w = params["conv1_7x7_s2"].get("weights", params["conv1_7x7_s2"].get(0))
  np.testing.assert_allclose(model.get_layer("conv1_7x7_s2").get_weights()[0],
                             127.5 * w.sum(axis=2, keepdims=True), rtol=1e-5,
                             atol=1e-6)
  assert all(l.trainable for l in model.layers)


def test_load_caffe_npy_errors(small, tmp_path):
  with pytest.raises(InputError, match="no such"):
    googlenet.load_caffe_npy(small, str(tmp_path / "missing.npy"))
  arr = str(tmp_path / "arr.npy")
  np.save(arr, np.arange(3))
  model = _build((32, 32, 3), 10, width=1.0, aux_heads=False)
  with pytest.raises(InputError, match="not a pickled"):
    googlenet.load_caffe_npy(model, arr)
  with pytest.raises(InputError, match="width=1.0"):
    np.save(str(tmp_path / "ok.npy"), {"conv1_7x7_s2": {}}, allow_pickle=True)
    googlenet.load_caffe_npy(small, str(tmp_path / "ok.npy"))
  bad = str(tmp_path / "bad.npy")
  np.save(bad, {"conv1_7x7_s2": {"weights": np.zeros((5, 5, 3, 64)), "biases": np.zeros(64)}},
          allow_pickle=True)
  before = model.get_layer("conv1_7x7_s2").get_weights()[0].copy()
  with pytest.raises(InputError, match="conv1_7x7_s2"):
    googlenet.load_caffe_npy(model, bad)
  np.testing.assert_array_equal(model.get_layer("conv1_7x7_s2").get_weights()[0], before)
  partial = str(tmp_path / "partial.npy")
  np.save(partial, {"conv1_7x7_s2": {"weights": np.zeros((7, 7, 3, 64)), "biases": np.zeros(64)}},
          allow_pickle=True)
  with pytest.raises(InputError, match="no layer conv2_3x3_reduce"):
    googlenet.load_caffe_npy(model, partial)
  layout = str(tmp_path / "layout.npy")
  np.save(layout, {"conv1_7x7_s2": "weights"}, allow_pickle=True)
  with pytest.raises(InputError, match="not a"):
    googlenet.load_caffe_npy(model, layout)
  with pytest.raises(InputError, match="freeze"):
    googlenet.load_caffe_npy(model, partial, freeze=("inception_9z",))


def test_bad_config():
  with pytest.raises(InputError):
    _build((16, 16, 3), 196)
  with pytest.raises(InputError):
    _build((32, 32, 3), 196, dropout=1.0)
  # The config refuses out-of-range fields at construction.
  with pytest.raises(ValueError, match="dropout"):
    GoogLeNetConfig(dropout=1.0)
  with pytest.raises(ValueError, match="width"):
    GoogLeNetConfig(width=0.0)


def test_one_real_train_step_with_aux_heads(tmp_path):
  # The paper's classifier set-up on the canonical trainer: aux losses weighted 0.3, Adam with a
  # piecewise learning rate; one step must move the weights and report the aux-weighted loss.
  from tfinpaint import data  # pylint: disable=g-import-not-at-top
  from tfinpaint.training import classifier  # pylint: disable=g-import-not-at-top
  from tfinpaint.training import strategy as strategy_lib  # pylint: disable=g-import-not-at-top
  train_ds, _ = data.load("synthetic", "train", image_size=32)
  test_ds, _ = data.load("synthetic", "test", image_size=32)
  strategy = strategy_lib.make_strategy(strategy_lib.RuntimeConfig(strategy="default"))
  with strategy.scope():
    model = GoogLeNetConfig(width=0.125).build((32, 32, 1), 10)["model"]
  before = [w.numpy().copy() for w in model.trainable_weights]
  settings = classifier.ClassifierTraining(
      workdir=str(tmp_path), num_steps=1, batch_size=4, learning_rate=1e-3, lr_boundaries=(35,),
      lr_values=(1e-3, 1e-4), patch_training=False, aux_weight=0.3, log_every=1,
      checkpoint_every=1)
  out = classifier.train(model, train_ds, test_ds.take(8), settings, strategy=strategy)
  assert out["step"] == 1 and np.isfinite(out["loss"]) and out["total_loss"] > out["loss"]
  assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
