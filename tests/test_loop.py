"""Loop core: strategies, resume after a finished or killed run, hooks, summaries, 2 replicas.

The 2-replica tests rely on tests/conftest.py splitting the CPU into 2 logical devices.
"""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint.errors import InputError
from tfinpaint.training import loop

BATCH = 8


def _data(n=64, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 4)).astype(np.float32)
  y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
  return x, y


def _setup(strategy, optimizer="adam", seed=1):
  with strategy.scope():
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2)])
    opt = keras.optimizers.Adam(0.01) if optimizer == "adam" else keras.optimizers.SGD(0.1)
    opt.build(model.trainable_variables)

  def train_step(batch):
    x, y = batch
    with tf.GradientTape() as tape:
      ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x, training=True))
      loss = tf.reduce_sum(ce) / BATCH
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": tf.reduce_mean(ce)}

  return model, opt, train_step


def _run(workdir, strategy, model, opt, train_step, dataset, num_steps, **kwargs):
  return loop.run(workdir=str(workdir), strategy=strategy,
                  checkpoint={"model": model, "optimizer": opt}, train_step=train_step,
                  dataset=dataset, num_steps=num_steps, **kwargs)


def _weights(model):
  return [np.array(w) for w in model.get_weights()]


def _constant_batches():
  # The same batch every step: a resumed run must then end exactly where an uninterrupted one
  # does, which holds only if the weights AND the Adam state were checkpointed and restored.
  x, y = _data(BATCH)
  return tf.data.Dataset.from_tensors((x, y)).repeat()


def test_make_strategy():
  assert loop.make_strategy("default").num_replicas_in_sync == 1
  assert loop.make_strategy("mirrored").num_replicas_in_sync == 2  # conftest: 2 logical CPUs.
  with pytest.raises(InputError, match="unknown strategy"):
    loop.make_strategy("tpu")


def test_run_logs_summarises_and_resumes(tmp_path, capsys):
  strategy = loop.make_strategy("default")
  x, y = _data()
  dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(BATCH)
  model, opt, step_fn = _setup(strategy)
  seen = []
  result = _run(tmp_path, strategy, model, opt, step_fn, dataset, 5, log_every=2,
                checkpoint_every=100, hooks=[(2, lambda s, m: seen.append((s, m["loss"])))])
  assert result["step"] == 5 and np.isfinite(result["loss"])
  assert [s for s, _ in seen] == [2, 4]
  out = capsys.readouterr().out
  assert "step 2/5" in out and "step 5/5" in out and "steps/s" in out and "eta" in out
  assert os.path.basename(tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))) == "ckpt-5"

  # TensorBoard scalars: the loss at the last step equals what run() returned.
  logged = {}
  for path in glob.glob(str(tmp_path / "summaries" / "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        logged[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
  assert logged[("loss", 5)] == pytest.approx(result["loss"])
  assert ("loss", 2) in logged and ("steps_per_sec", 4) in logged

  trained = _weights(model)
  # Fresh objects, same workdir, nothing left to do: weights come back, no step runs.
  model2, opt2, step_fn2 = _setup(strategy, seed=7)
  assert not np.allclose(_weights(model2)[0], trained[0])
  assert _run(tmp_path, strategy, model2, opt2, step_fn2, dataset, 5) == {"step": 5}
  for a, b in zip(_weights(model2), trained):
    np.testing.assert_array_equal(a, b)
  assert int(opt2.iterations.numpy()) == 5

  # A longer run continues from step 5.
  seen = []
  result = _run(tmp_path, strategy, model2, opt2, step_fn2, dataset, 8,
                hooks=[(1, lambda s, m: seen.append(s))])
  assert seen == [6, 7, 8] and result["step"] == 8
  assert int(opt2.iterations.numpy()) == 8
  assert loop.restore(str(tmp_path), {"model": _setup(strategy)[0]}) == 8


class _Killed(Exception):
  pass


def test_killed_run_resumes_from_last_checkpoint(tmp_path):
  strategy = loop.make_strategy("default")
  reference, ref_opt, ref_step = _setup(strategy)
  _run(tmp_path / "reference", strategy, reference, ref_opt, ref_step, _constant_batches(), 10)

  model, opt, step_fn = _setup(strategy)
  at_six = []

  def kill_at_eight(step, metrics):
    if step == 6:
      at_six.append(_weights(model))
    if step == 8:
      raise _Killed()

  with pytest.raises(_Killed):
    _run(tmp_path / "run", strategy, model, opt, step_fn, _constant_batches(), 10,
         checkpoint_every=3, hooks=[(1, kill_at_eight)])

  # "New process": new objects with other initial weights; the run restarts at step 6.
  model, opt, step_fn = _setup(strategy, seed=3)
  first = []
  def record(step, metrics):
    if not first:
      first.append((step, _weights(model)))
  _run(tmp_path / "run", strategy, model, opt, step_fn, _constant_batches(), 10,
       checkpoint_every=3, hooks=[(1, record)])
  assert first[0][0] == 7
  assert int(opt.iterations.numpy()) == 10
  # Resumed from exactly the step-6 state, it ends exactly where the uninterrupted run ended.
  for a, b in zip(_weights(model), _weights(reference)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert not np.allclose(at_six[0][0], _weights(reference)[0])
  names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "run/checkpoints/*.index")))
  assert names == ["ckpt-10.index", "ckpt-6.index", "ckpt-9.index"]  # max_to_keep=3


def test_two_replicas_match_one_device(tmp_path):
  # Same data, same initial weights: 2 replicas with the loss scaled by the GLOBAL batch take
  # exactly the steps one device takes, and the Keras optimizer (built in scope) does not fail.
  results = []
  for name in ("default", "mirrored"):
    strategy = loop.make_strategy(name)
    model, opt, step_fn = _setup(strategy, optimizer="sgd")
    x, y = _data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(BATCH)
    out = _run(tmp_path / name, strategy, model, opt, step_fn, dataset, 4, checkpoint_every=2)
    assert out["step"] == 4 and np.isfinite(out["loss"])
    results.append((out, _weights(model)))
  (one, w_one), (two, w_two) = results
  assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
  for a, b in zip(w_one, w_two):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert not np.allclose(w_one[0], _setup(loop.make_strategy("default"))[0].get_weights()[0])


def test_finite_dataset_and_reserved_key(tmp_path):
  strategy = loop.make_strategy("default")
  model, opt, step_fn = _setup(strategy)
  x, y = _data(16)
  finite = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
  with pytest.raises(InputError, match="repeated dataset"):
    _run(tmp_path / "a", strategy, model, opt, step_fn, finite, 5)
  with pytest.raises(InputError, match="step"):
    loop.run(workdir=str(tmp_path / "b"), strategy=strategy, checkpoint={"step": model},
             train_step=step_fn, dataset=finite, num_steps=1)
