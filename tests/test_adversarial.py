"""Adversarial (robust) classifier training: the PGD attack and one real training run."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import data
from tfinpaint.models import lenet
from tfinpaint.training import classifier
from tfinpaint.training import strategy as strategy_lib
from tfinpaint.training.classifier import ClassifierTraining
from tfinpaint.training.strategy import RuntimeConfig


def _loss(model, images, labels):
  return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, model(images)).numpy()


def test_pgd_stays_in_the_ball_and_the_range_and_raises_the_loss():
  keras.utils.set_random_seed(0)
  model = lenet.build((28, 28, 1), 10, width=0.5)
  rng = np.random.default_rng(0)
  images = tf.constant(rng.uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32))
  labels = tf.constant(rng.integers(0, 10, 8).astype(np.int32))
  for epsilon in (0.25, 1.0):
    worst = classifier.pgd(model, images, labels, epsilon, 5)
    distance = np.sqrt(np.sum(np.square(worst - images), axis=(1, 2, 3)))
    assert (distance <= epsilon + 1e-4).all() and (distance > 0).all()
    assert float(tf.reduce_min(worst)) >= -1 and float(tf.reduce_max(worst)) <= 1
    assert (_loss(model, worst, labels) > _loss(model, images, labels)).all()


def test_adversarial_training_runs_and_makes_a_more_robust_classifier(tmp_path):
  train_ds, info = data.load("synthetic", "train", image_size=28)
  test_ds, _ = data.load("synthetic", "test", image_size=28)
  strategy = strategy_lib.make_strategy(RuntimeConfig(strategy="default"))
  images, labels = next(iter(test_ds.batch(64)))
  models = {}
  for name, epsilon in (("plain", 0.0), ("robust", 1.0)):
    keras.utils.set_random_seed(0)
    models[name] = lenet.build((28, 28, 1), info.num_classes, width=0.5)
    settings = ClassifierTraining(workdir=str(tmp_path / name), num_steps=80, batch_size=32,
                                  learning_rate=3e-3, log_every=40, patch_training=False,
                                  adversarial_epsilon=epsilon, adversarial_steps=3)
    result = classifier.train(models[name], train_ds, test_ds, settings, strategy=strategy)
    assert result["step"] == 80 and np.isfinite(result["loss"])
  # Under the same attack, the robust network keeps more of its answers.
  robust_acc = {}
  for name, model in models.items():
    worst = classifier.pgd(model, images, labels, 1.0, 5)
    robust_acc[name] = float(np.mean(np.argmax(model(worst), -1) == labels.numpy()))
  assert robust_acc["robust"] > robust_acc["plain"], robust_acc


def test_bad_adversarial_settings_are_refused_before_anything_is_written(tmp_path):
  # Out-of-range settings are refused when the settings are made: no training call, no write.
  with pytest.raises(ValueError, match=r"^adversarial_epsilon must be >= 0"):
    ClassifierTraining(workdir=str(tmp_path / "w"), num_steps=1, batch_size=8,
                       learning_rate=1e-3, adversarial_epsilon=-1.0)
  with pytest.raises(ValueError, match=r"^adversarial_steps must be >= 1"):
    ClassifierTraining(workdir=str(tmp_path / "w"), num_steps=1, batch_size=8,
                       learning_rate=1e-3, adversarial_epsilon=1.0, adversarial_steps=0)
  assert not (tmp_path / "w").exists()
