"""Classifier training: patch masking (paper 003 Sec. 4.1, 4.2), losses, 2 replicas, accuracy."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import CPUS
from tfinpaint import data
from tfinpaint.errors import InputError
from tfinpaint.models import lenet
from tfinpaint.models.lenet import LeNetConfig
from tfinpaint.training import checkpoints, classifier
from tfinpaint.training import strategy as strategy_lib
from tfinpaint.training.classifier import ClassifierTraining
from tfinpaint.training.strategy import RuntimeConfig

DEFAULTS = ClassifierTraining()  # the defaults live in the config only


def _strategy(name="default", devices=()):
  return strategy_lib.make_strategy(RuntimeConfig(strategy=name, devices=tuple(devices)))


def _patches(ds, **kwargs):
  """classifier.patches with ClassifierTraining's defaults for what a test does not set."""
  kwargs = dict(dict(repeats=DEFAULTS.patch_repeats, patch_min=DEFAULTS.patch_min,
                     patch_max=DEFAULTS.patch_max, face_patches=DEFAULTS.face_patches,
                     face_energy_threshold=DEFAULTS.face_energy_threshold,
                     seed=DEFAULTS.seed), **kwargs)
  return classifier.patches(ds, **kwargs)


def _train(model, train_ds, test_ds, strategy, **settings):
  return classifier.train(model, train_ds, test_ds, ClassifierTraining(**settings),
                          strategy=strategy)


def _examples(images, labels):
  return tf.data.Dataset.from_tensor_slices((np.asarray(images, np.float32),
                                             np.asarray(labels, np.int32)))


def _collect(ds):
  pairs = list(ds.as_numpy_iterator())
  return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _rectangle(visible):
  """(top, left, h, w) of the visible pixels, asserting they form exactly one full rectangle."""
  rows = np.flatnonzero(visible.any(axis=1))
  cols = np.flatnonzero(visible.any(axis=0))
  top, left = rows[0], cols[0]
  h, w = rows[-1] - top + 1, cols[-1] - left + 1
  assert visible[top:top + h, left:left + w].all()
  assert visible.sum() == h * w
  return top, left, h, w


@pytest.mark.parametrize("height,width,channels,side_range", [
    (28, 28, 1, ((7, 20), (7, 20))),      # the paper's digits: 7x7 to 20x20
    (56, 84, 3, ((14, 40), (21, 60))),    # scaled by 56/28 and 84/28
])
def test_patches_keep_exactly_one_rectangle(height, width, channels, side_range):
  rng = np.random.default_rng(0)
  # No pixel is black (-1) in the originals, so "visible" = "not -1".
  images = rng.uniform(-0.9, 1.0, (3, height, width, channels))
  out, labels = _collect(_patches(_examples(images, [3, 1, 4]), repeats=4, seed=5))
  assert out.shape == (12, height, width, channels)
  np.testing.assert_array_equal(labels, [3] * 4 + [1] * 4 + [4] * 4)
  rects = []
  for i, patch in enumerate(out):
    original = images[i // 4]
    visible = patch != -1.0
    assert (visible == visible[..., :1]).all()  # same rectangle in every channel
    top, left, h, w = _rectangle(visible[..., 0])
    assert side_range[0][0] <= h <= side_range[0][1]
    assert side_range[1][0] <= w <= side_range[1][1]
    np.testing.assert_array_equal(patch[visible], original[visible].astype(np.float32))
    rects.append((top, left, h, w))
  assert len(set(rects)) == 12  # every copy is masked differently


def test_patches_are_seeded():
  images = np.random.default_rng(1).uniform(-0.9, 1.0, (2, 28, 28, 1))
  ds = _examples(images, [0, 1])
  a, _ = _collect(_patches(ds, repeats=3, seed=1))
  b, _ = _collect(_patches(ds, repeats=3, seed=1))
  c, _ = _collect(_patches(ds, repeats=3, seed=2))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_face_patches_replace_dark_patches_by_whole_image():
  threshold = 0.05
  half = np.full((28, 28, 1), -0.98)  # [0,1] value 0.01: energy 1e-4
  half[:, 14:] = 0.6                  # [0,1] value 0.8: energy 0.64
  images = np.stack([half, half[:, ::-1], np.full((28, 28, 1), -0.98), np.full((28, 28, 1), 0.6)])
  ds = _examples(images, [0, 1, 2, 3])
  kwargs = dict(repeats=10, seed=3, face_energy_threshold=threshold)
  plain, _ = _collect(_patches(ds, face_patches=False, **kwargs))
  face, _ = _collect(_patches(ds, face_patches=True, **kwargs))
  whole = 0
  for i, (p, f) in enumerate(zip(plain, face)):
    original = images[i // 10].astype(np.float32)
    top, left, h, w = _rectangle(p[..., 0] != -1.0)
    energy = np.mean(((original[top:top + h, left:left + w] + 1) / 2) ** 2)
    if energy < threshold:
      np.testing.assert_array_equal(f, original)
      whole += 1
    else:
      np.testing.assert_array_equal(f, p)
  assert 10 <= whole < 30  # the all-dark image always, the bright one never, halves sometimes


def test_bad_patch_arguments():
  ds = _examples(np.zeros((1, 28, 28, 1)), [0])
  with pytest.raises(ValueError, match=r"need 1 <= patch_min <= patch_max, got 21, 20"):
    _patches(ds, patch_min=21, patch_max=20)
  with pytest.raises(ValueError, match=r"patch_repeats must be >= 1, got 0"):
    _patches(ds, repeats=0)
  # The training config refuses the same at construction.
  with pytest.raises(ValueError, match=r"^patch_min \(9\) must not exceed patch_max \(8\)$"):
    ClassifierTraining(patch_min=9, patch_max=8)
  with pytest.raises(ValueError, match="patch_repeats"):
    ClassifierTraining(patch_repeats=0)


def test_evaluate_matches_numpy():
  model = LeNetConfig(width=0.5).build((28, 28, 1), 10)["model"]
  x = np.random.default_rng(2).uniform(-1, 1, (23, 28, 28, 1)).astype(np.float32)
  predicted = np.argmax(np.asarray(model(x)), axis=1)
  labels = predicted.copy()
  labels[:9] = (labels[:9] + 1) % 10  # 14 of 23 right
  assert classifier.evaluate(model, _examples(x, labels), batch_size=5) == pytest.approx(14 / 23)


def test_train_lenet_on_synthetic_beats_chance(tmp_path):
  train_ds, info = data.load("synthetic", "train", image_size=28)
  test_ds, _ = data.load("synthetic", "test", image_size=28)
  strategy = _strategy("default")
  with strategy.scope():
    keras.utils.set_random_seed(0)
    model = lenet.build((28, 28, 1), info.num_classes, width=0.5)
  result = _train(model, train_ds, test_ds, strategy, workdir=str(tmp_path), num_steps=80,
                  batch_size=32, learning_rate=3e-3, log_every=40, shuffle_buffer=256)
  assert result["step"] == 80
  assert result["test_accuracy"] > 0.6  # chance is 0.1
  assert result["test_accuracy"] == classifier.evaluate(model, test_ds, 64)
  tags = set()
  for path in glob.glob(str(tmp_path / "summaries" / "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  assert {"loss", "accuracy", "test_accuracy"} <= tags


def test_settings_run_trains_on_a_data_config(tmp_path):
  # ClassifierTraining.run is what the runner calls: the experiment's data, its networks.
  experiment_data = data.DataConfig(dataset="synthetic", image_size=16, channels=1)
  settings = ClassifierTraining(workdir=str(tmp_path), num_steps=3, batch_size=8, log_every=1,
                                checkpoint_every=3, patch_repeats=2)
  strategy = _strategy("default")
  with strategy.scope():
    keras.utils.set_random_seed(0)
    networks = LeNetConfig(width=0.25).build(experiment_data.image_shape, 10)
  lines = []
  result = settings.run(networks, experiment_data, strategy, log=lines.append)
  assert result["step"] == 3 and 0.0 <= result["test_accuracy"] <= 1.0
  assert any(line.startswith("step 3/3") for line in lines)
  assert any(line.startswith("test accuracy") for line in lines)
  test_ds, _ = experiment_data.load("test")
  score = settings.score(networks, experiment_data)
  assert score == {"test_accuracy": classifier.evaluate(networks["model"], test_ds, 256)}
  assert checkpoints.restore(str(tmp_path), {"model": networks["model"]}) == 3


def _googlenet_like(shape, num_classes):
  """Tiny stand-in for GoogLeNet's interface: BatchNorm, Dropout, dict with aux heads."""
  layers = keras.layers
  image = keras.Input(shape)
  x = layers.Conv2D(4, 3, padding="same")(image)
  x = layers.BatchNormalization(name="bn")(x)
  x = layers.GlobalAveragePooling2D()(layers.ReLU()(x))
  return keras.Model(image, {"logits": layers.Dense(num_classes)(layers.Dropout(0.3)(x)),
                             "aux1": layers.Dense(num_classes)(x),
                             "aux2": layers.Dense(num_classes)(x)})


def test_train_dict_model_with_aux_bn_dropout_on_two_replicas(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.uniform(-0.9, 1, (32, 16, 16, 1))
  ds = _examples(x, rng.integers(0, 3, 32))
  strategy = _strategy("mirrored", devices=CPUS)
  assert strategy.num_replicas_in_sync == 2
  with strategy.scope():
    model = _googlenet_like((16, 16, 1), 3)
  result = _train(model, ds, ds, strategy, workdir=str(tmp_path), num_steps=4, batch_size=8,
                  learning_rate=1e-2, lr_boundaries=(2,), lr_values=(1e-2, 1e-4),
                  patch_repeats=2, shuffle_buffer=64)
  assert result["step"] == 4
  assert result["learning_rate"] == pytest.approx(1e-4)  # past the boundary
  assert result["total_loss"] > result["loss"] > 0  # aux losses are added with weight 0.3
  assert 0.0 <= result["test_accuracy"] <= 1.0
  assert np.abs(model.get_layer("bn").moving_mean.numpy()).max() > 0  # BN ran in training mode
  with pytest.raises(InputError):
    _train(model, ds, ds, strategy, workdir=str(tmp_path / "b"), num_steps=1, batch_size=7,
           learning_rate=1e-3)


def test_bad_learning_rate_schedule(tmp_path):
  # Refused when the settings are made, before any training call (so nothing is written).
  with pytest.raises(ValueError, match=r"^lr_values needs 3 values for 2 lr_boundaries$"):
    ClassifierTraining(workdir=str(tmp_path), num_steps=1, batch_size=2, learning_rate=1e-3,
                       lr_boundaries=(5, 10), lr_values=(1e-3, 1e-4))
  with pytest.raises(ValueError, match=r"^lr_values needs 2 values for 1 lr_boundaries$"):
    ClassifierTraining(lr_boundaries=(5,), lr_values=(1e-3,))
  with pytest.raises(ValueError, match=r"^lr_boundaries must be increasing$"):
    ClassifierTraining(lr_boundaries=(10, 5))
  with pytest.raises(ValueError, match=r"^lr_boundaries must be increasing$"):
    ClassifierTraining(lr_boundaries=(5, 5), lr_values=(1e-3, 1e-4, 1e-5))
  assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Issue 12: the in-memory input, divergence, refused runs, another network's checkpoints.
# ---------------------------------------------------------------------------------------------


def test_in_memory_input_is_patches_in_a_seeded_order_per_epoch(capsys):
  # The in-memory input keeps `patches` semantics: epoch e holds exactly the patches that
  # `patches` cuts on the e-th pass of the repeated split, in an order fixed by (seed, e); the
  # input of a run resumed at step s is the uninterrupted input from batch s on.
  rng = np.random.default_rng(4)
  images = rng.uniform(-0.9, 1.0, (6, 28, 28, 1))
  ds = _examples(images, [0, 1, 2, 3, 4, 5])
  kwargs = dict(patch_min=7, patch_max=20, face_patches=False, face_energy_threshold=0.01)
  batches = classifier._input(ds, batch_size=4, patch_training=True, patch_repeats=2,
                              patch_kwargs=kwargs, seed=3, shuffle_buffer=8)
  assert "in memory (6 examples)" in capsys.readouterr().out
  run = [b for b in batches(0).take(6).as_numpy_iterator()]  # 2 epochs of 12 patches
  flat = np.concatenate([b[0] for b in run]), np.concatenate([b[1] for b in run])
  expected, labels = _collect(classifier.patches(ds.repeat(2), repeats=2, seed=3, **kwargs))
  for epoch in range(2):
    got = slice(12 * epoch, 12 * epoch + 12)
    order = np.lexsort(flat[0][got].reshape(12, -1).T)
    want = np.lexsort(expected[got].reshape(12, -1).T)
    np.testing.assert_array_equal(flat[0][got][order], expected[got][want])
    np.testing.assert_array_equal(flat[1][got][order], labels[got][want])
  assert not np.array_equal(flat[0][:12], expected[:12])  # shuffled
  assert not np.array_equal(np.sort(flat[1][:12]), flat[1][:12])
  for step in (1, 4):
    resumed = next(batches(step).as_numpy_iterator())
    np.testing.assert_array_equal(resumed[0], run[step][0])


def _tiny_split(n=16, size=16):
  rng = np.random.default_rng(0)
  return _examples(rng.uniform(-0.9, 1, (n, size, size, 1)), rng.integers(0, 3, n))


def test_infinite_learning_rate_diverges_and_saves_nothing(tmp_path):
  ds = _tiny_split()
  model = lenet.build((16, 16, 1), 3, width=0.25)
  # The config refuses a non-finite learning rate up front ...
  with pytest.raises(ValueError, match=r"^learning_rate must be finite, got inf$"):
    ClassifierTraining(workdir=str(tmp_path), learning_rate=float("inf"))
  # ... and the trainer still stops at the first non-finite step and saves nothing when one
  # reaches it anyway (the config's check is bypassed here to get an infinite rate to it).
  settings = ClassifierTraining(workdir=str(tmp_path), num_steps=20, batch_size=8,
                                learning_rate=1e-3, checkpoint_every=5)
  object.__setattr__(settings, "learning_rate", float("inf"))
  with pytest.raises(InputError, match=r"^training diverged at step 1 \(.*\); no checkpoint was "
                                       r"kept; lower --config\.train\.learning_rate$"):
    classifier.train(model, ds, ds, settings, strategy=_strategy("default"))
  assert not glob.glob(str(tmp_path / "checkpoints" / "ckpt-*"))


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(batch_size=40), InputError,
     r"batch_size 40 is larger than the 16 training examples x 2 patch"),
    (dict(batch_size=20, patch_training=False), InputError,
     r"batch_size 20 is larger than the 16 training"),
    # Refused by the settings themselves, at construction.
    (dict(patch_min=12, patch_max=8), ValueError,
     r"^patch_min \(12\) must not exceed patch_max \(8\)$"),
    (dict(batch_size=7, strategy="mirrored"), InputError, r"multiple of the 2 replicas"),
    (dict(workdir="file"), InputError, r"exists and is not a folder"),
])
def test_refused_runs_write_nothing(tmp_path, kwargs, error, message):
  kwargs = dict(dict(batch_size=8, strategy="default", workdir="run"), **kwargs)
  name = kwargs.pop("strategy")
  strategy = _strategy(name, devices=CPUS if name == "mirrored" else ())
  workdir = tmp_path / kwargs.pop("workdir")
  (tmp_path / "file").write_text("not a folder")
  with strategy.scope():
    model = lenet.build((16, 16, 1), 3, width=0.25)
  ds = _tiny_split()
  with pytest.raises(error, match=message):
    settings = ClassifierTraining(workdir=str(workdir), num_steps=2, learning_rate=1e-3,
                                  patch_repeats=2, **kwargs)
    classifier.train(model, ds, ds, settings, strategy=strategy)
  assert sorted(os.listdir(tmp_path)) == ["file"]


def test_checkpoints_of_another_width_are_refused_until_restart_from_scratch(tmp_path, capsys):
  ds = _tiny_split()
  strategy = _strategy("default")

  def train(width, **kwargs):
    keras.utils.set_random_seed(0)
    model = LeNetConfig(width=width).build((16, 16, 1), 3)["model"]
    result = _train(model, ds, ds.take(4), strategy, workdir=str(tmp_path), num_steps=2,
                    batch_size=8, learning_rate=1e-3, patch_repeats=2, **kwargs)
    return result, model

  train(0.25)
  files = sorted(os.listdir(tmp_path / "checkpoints"))
  with pytest.raises(InputError, match=r"^the checkpoints in .* were written by a different "
                                       r"network \(.*shape.*\): use the experiment's network "
                                       r"config or --config\.train\.restart_from_scratch=true$"):
    train(0.5)
  assert sorted(os.listdir(tmp_path / "checkpoints")) == files  # nothing touched
  with pytest.raises(InputError, match="different network"):  # export's restore says so too
    checkpoints.restore(str(tmp_path), {"model": lenet.build((16, 16, 1), 3, width=0.5)})
  capsys.readouterr()
  result, model = train(0.5, restart_from_scratch=True)
  assert "restart_from_scratch: discarded" in capsys.readouterr().out
  assert result["step"] == 2 and model.get_layer("conv1").kernel.shape[-1] == 3
  assert checkpoints.restore(str(tmp_path),
                             {"model": lenet.build((16, 16, 1), 3, width=0.5)}) == 2
