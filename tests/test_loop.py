"""Loop core: strategies, resume after a finished or killed run, hooks, summaries, 2 replicas.

Covers the modules split out of the loop: training/strategy.py (strategies, devices, GPU-only
options), training/checkpoints.py (restore, integrity), training/inputs.py (exact resume input)
and training/loop.py (run).

The 2-replica tests rely on tests/conftest.py splitting the CPU into 2 logical devices.
"""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import CPUS
from tfinpaint.errors import InputError
from tfinpaint.training import checkpoints, inputs, loop
from tfinpaint.training import strategy as strategy_lib
from tfinpaint.training.strategy import RuntimeConfig

BATCH = 8
# loop.run takes log_every and checkpoint_every as required keywords; the defaults live in
# LoopConfig.
LOOP_DEFAULTS = loop.LoopConfig()


def _strategy(name="default", devices=()):
  return strategy_lib.make_strategy(RuntimeConfig(strategy=name, devices=tuple(devices)))


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
  kwargs.setdefault("log_every", LOOP_DEFAULTS.log_every)
  kwargs.setdefault("checkpoint_every", LOOP_DEFAULTS.checkpoint_every)
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


def test_make_strategy(monkeypatch):
  assert _strategy("default").num_replicas_in_sync == 1
  assert strategy_lib.make_strategy(RuntimeConfig()).num_replicas_in_sync == 1
  two = _strategy("mirrored", devices=CPUS)  # conftest: 2 logical CPUs.
  assert two.num_replicas_in_sync == 2
  assert [d.rsplit("/", 1)[-1] for d in two.extended.worker_devices] == ["device:CPU:0",
                                                                      "device:CPU:1"]
  # Explicit names in any spelling are the same strategy object (one per device set, see
  # make_strategy), and so is the default list on a host without GPUs.
  assert strategy_lib.make_strategy(
      RuntimeConfig(strategy="mirrored", devices=["/cpu:0", "device:CPU:1"])) is two
  if not tf.config.list_logical_devices("GPU"):
    assert _strategy("mirrored") is two
  one = _strategy("mirrored", devices=["CPU:1"])
  assert one.num_replicas_in_sync == 1 and one is not two
  # An unknown strategy is refused when the config is made.
  with pytest.raises(ValueError, match=r"^strategy must be one of default, mirrored, "
                                       r"multi_worker, got 'tpu'$"):
    RuntimeConfig(strategy="tpu")
  assert strategy_lib.STRATEGIES == ("default", "mirrored", "multi_worker")
  # multi_worker never guesses a cluster.
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(InputError, match="the multi_worker strategy needs TF_CONFIG"):
    _strategy("multi_worker")


@pytest.mark.parametrize("name,devices,message", [
    ("mirrored", ["CPU:7"],
     r"^--config\.runtime\.devices: no device CPU:7 here; the devices are CPU:0, CPU:1"),
    ("mirrored", ["gpu"],
     r"^--config\.runtime\.devices: 'gpu' is not a device name such as GPU:0 or CPU:1$"),
    ("mirrored", ["CPU:0", "cpu:0"], r"^--config\.runtime\.devices names a device twice"),
])
def test_bad_devices_are_input_errors(name, devices, message):
  runtime = RuntimeConfig(strategy=name, devices=devices)
  with pytest.raises(InputError, match=message):
    strategy_lib.make_strategy(runtime)


@pytest.mark.parametrize("name,message", [
    ("default", r"^devices applies to the mirrored strategy only, not default"),
    ("multi_worker", r"^devices applies to the mirrored strategy only"),
])
def test_devices_of_another_strategy_are_refused_by_the_config(name, message):
  with pytest.raises(ValueError, match=message):
    RuntimeConfig(strategy=name, devices=("CPU:0",))


def test_gpu_options_without_a_gpu():
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("this host has a GPU")
  lines = []
  assert strategy_lib.configure_gpus(RuntimeConfig(memory_growth=True),
                                     log=lines.append) is False
  assert lines == ["memory_growth: no GPU, nothing to do"]
  assert strategy_lib.configure_gpus(RuntimeConfig(), log=lines.append) is False
  assert len(lines) == 1
  with pytest.raises(InputError, match=r"^--config\.runtime\.mixed_precision needs a GPU "
                                       r"\(float16 on the CPU"):
    strategy_lib.configure_gpus(RuntimeConfig(mixed_precision=True), log=lines.append)
  assert keras.mixed_precision.global_policy().name == "float32"
  assert not strategy_lib.mixed_precision_on()
  opt = keras.optimizers.Adam()
  assert strategy_lib.maybe_loss_scale(opt) is opt  # float32: no wrapper, scale_loss is the identity
  assert float(opt.scale_loss(tf.constant(3.0))) == 3.0


def test_loss_scale_wrapper_under_the_mixed_policy():
  # What --config.runtime.mixed_precision sets up on a GPU, checked on the CPU without training
  # in float16.
  try:
    keras.mixed_precision.set_global_policy("mixed_float16")
    assert strategy_lib.mixed_precision_on()
    opt = strategy_lib.maybe_loss_scale(keras.optimizers.Adam())
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert float(opt.scale_loss(tf.constant(1.0))) > 1.0
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_run_logs_summarises_and_resumes(tmp_path, capsys):
  strategy = _strategy("default")
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
  assert checkpoints.restore(str(tmp_path), {"model": _setup(strategy)[0]}) == 8


class _Killed(Exception):
  pass


def test_killed_run_resumes_from_last_checkpoint(tmp_path):
  strategy = _strategy("default")
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
    strategy = _strategy(name, devices=CPUS if name == "mirrored" else ())
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
  assert not np.allclose(w_one[0], _setup(_strategy("default"))[0].get_weights()[0])


def test_finite_dataset_and_reserved_key(tmp_path):
  strategy = _strategy("default")
  model, opt, step_fn = _setup(strategy)
  x, y = _data(16)
  finite = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
  with pytest.raises(InputError, match="repeated dataset"):
    _run(tmp_path / "a", strategy, model, opt, step_fn, finite, 5)
  with pytest.raises(ValueError, match="step"):  # a programmer's mistake, not the user's
    loop.run(workdir=str(tmp_path / "b"), strategy=strategy, checkpoint={"step": model},
             train_step=step_fn, dataset=finite, num_steps=1, log_every=1, checkpoint_every=1)


@pytest.mark.parametrize("kwargs,message", [
    (dict(num_steps=-1), "num_steps must be >= 0"),
    (dict(log_every=0), "log_every, checkpoint_every >= 1"),
    (dict(checkpoint_every=0), "log_every, checkpoint_every >= 1"),
    (dict(hooks=[(0, lambda step, metrics: None)]), "hook periods must be >= 1"),
])
def test_bad_loop_arguments_are_value_errors_and_write_nothing(tmp_path, kwargs, message):
  # A caller's mistake (the configs range-check what users give), refused before any write.
  strategy = _strategy("default")
  model, opt, step_fn = _setup(strategy)
  kwargs = dict(dict(num_steps=2, log_every=1, checkpoint_every=1), **kwargs)
  with pytest.raises(ValueError, match=message):
    _run(tmp_path / "w", strategy, model, opt, step_fn, _constant_batches(), **kwargs)
  assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------------------------------------
# Issue 12: checkpoint integrity, divergence, workdir mistakes.
# ---------------------------------------------------------------------------------------------


def _checkpointed(workdir, num_steps=9, every=3):
  """A workdir with ckpt-3, ckpt-6, ckpt-9 of the constant-batch run; returns its weights."""
  strategy = _strategy("default")
  model, opt, step_fn = _setup(strategy)
  _run(workdir, strategy, model, opt, step_fn, _constant_batches(), num_steps,
       checkpoint_every=every)
  return _weights(model)


def _ckpt_files(workdir):
  return sorted(os.path.basename(p) for p in glob.glob(str(workdir / "checkpoints" / "ckpt-*")))


def _resume(workdir, num_steps, **kwargs):
  """A "new process": fresh objects (other initial weights) on the same workdir."""
  strategy = _strategy("default")
  model, opt, step_fn = _setup(strategy, seed=5)
  out = _run(workdir, strategy, model, opt, step_fn, _constant_batches(), num_steps,
             checkpoint_every=3, **kwargs)
  return out, model, opt


def _assert_same(a, b):
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("index", ["garbage", "empty", "missing", "dangling"])
def test_unreadable_index_restores_newest_intact_checkpoint(tmp_path, capsys, index):
  # Before: an unreadable index made the run start at step 0 and the CheckpointManager then
  # overwrote / deleted the intact ckpt-3, 6, 9. Now the ckpt-N files are checked instead.
  reference = _checkpointed(tmp_path / "reference", num_steps=12)
  _checkpointed(tmp_path / "run")
  files = _ckpt_files(tmp_path / "run")
  path = tmp_path / "run" / "checkpoints" / "checkpoint"
  if index == "missing":
    path.unlink()
  else:
    path.write_text({"garbage": "\x00not {{ a checkpoint index", "empty": "",
                     "dangling": 'model_checkpoint_path: "ckpt-12"\n'}[index])
  capsys.readouterr()
  out, model, opt = _resume(tmp_path / "run", 9)
  log = capsys.readouterr().out
  assert out == {"step": 9} and "restored ckpt-9 (step 9)" in log
  word = {"garbage": "unreadable"}.get(index, index)
  assert f"checkpoint index {path} is {word}" in log
  assert _ckpt_files(tmp_path / "run") == files  # nothing deleted or overwritten
  assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-9")
  _assert_same(_weights(model), _checkpointed(tmp_path / "nine"))
  assert int(opt.iterations.numpy()) == 9
  # Continuing ends exactly where the uninterrupted run ends; the manager rotates as usual.
  _, model, _ = _resume(tmp_path / "run", 12)
  _assert_same(_weights(model), reference)
  assert [f for f in _ckpt_files(tmp_path / "run") if f.endswith(".index")] == [
      "ckpt-12.index", "ckpt-6.index", "ckpt-9.index"]


def _damage(prefix, how):
  if how == "nan_weights":  # what runs before the divergence check could save
    model, opt, _ = _setup(_strategy("default"))
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    tf.train.Checkpoint(step=tf.Variable(9, dtype=tf.int64), model=model, optimizer=opt).write(
        str(prefix))
    return
  data, = glob.glob(f"{prefix}.data-*")
  target = f"{prefix}.index" if how == "truncated_index" else data
  size = os.path.getsize(target)
  if how == "flipped_bytes":
    with open(target, "r+b") as f:
      f.seek(size // 2)
      f.write(bytes(b ^ 0xFF for b in f.read(8)))
      f.seek(size // 2)
  else:
    with open(target, "r+b") as f:
      f.truncate(size // 2)


@pytest.mark.parametrize("how", ["truncated_data", "truncated_index", "flipped_bytes",
                                 "nan_weights"])
def test_damaged_latest_checkpoint_falls_back_to_previous(tmp_path, capsys, how):
  reference = _checkpointed(tmp_path / "reference", num_steps=12)
  _checkpointed(tmp_path / "run")
  _damage(tmp_path / "run" / "checkpoints" / "ckpt-9", how)
  capsys.readouterr()
  out, model, _ = _resume(tmp_path / "run", 12)
  log = capsys.readouterr().out
  assert "skipping ckpt-9: damaged" in log and "restored ckpt-6 (step 6)" in log
  assert out["step"] == 12
  _assert_same(_weights(model), reference)
  fresh = _setup(_strategy("default"))[0]
  assert checkpoints.restore(str(tmp_path / "run"), {"model": fresh}) == 12


def test_no_restorable_checkpoint_refuses_until_restart_from_scratch(tmp_path, capsys):
  _checkpointed(tmp_path)
  for number in (3, 6, 9):
    _damage(tmp_path / "checkpoints" / f"ckpt-{number}", "truncated_data")
  files = _ckpt_files(tmp_path)
  with pytest.raises(InputError, match=r"no checkpoint in .* restores \(ckpt-9 is damaged; "
                                       r"ckpt-6 is damaged; ckpt-3 is damaged\): pass "
                                       r"--config\.train\.restart_from_scratch=true to discard "
                                       r"them and start again$"):
    _resume(tmp_path, 4)
  assert _ckpt_files(tmp_path) == files  # refused: nothing touched
  with pytest.raises(InputError, match="restores"):
    checkpoints.restore(str(tmp_path), {"model": _setup(_strategy("default"))[0]})
  capsys.readouterr()
  out, _, opt = _resume(tmp_path, 4, restart_from_scratch=True)
  assert "restart_from_scratch: discarded" in capsys.readouterr().out
  assert out["step"] == 4 and int(opt.iterations.numpy()) == 4
  assert [f for f in _ckpt_files(tmp_path) if f.endswith(".index")] == ["ckpt-3.index",
                                                                        "ckpt-4.index"]


def test_index_naming_missing_checkpoints_is_refused(tmp_path):
  (tmp_path / "checkpoints").mkdir(parents=True)
  (tmp_path / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1200"\n')
  with pytest.raises(InputError, match="the index is dangling"):
    _resume(tmp_path, 2)
  # An empty index with no checkpoint at all holds nothing to lose: a fresh start.
  (tmp_path / "checkpoints" / "checkpoint").write_text("")
  assert _resume(tmp_path, 2)[0]["step"] == 2


def test_healthy_workdir_resumes_despite_restart_from_scratch(tmp_path, capsys):
  _checkpointed(tmp_path)
  capsys.readouterr()
  assert _resume(tmp_path, 9, restart_from_scratch=True)[0] == {"step": 9}
  assert "restart_from_scratch ignored: ckpt-9 restores" in capsys.readouterr().out


def test_stale_temp_folder_of_a_killed_save_is_removed(tmp_path, capsys):
  _checkpointed(tmp_path)
  stale = tmp_path / "checkpoints" / "ckpt-12_temp"
  stale.mkdir()
  (stale / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\x00" * 100)
  index_tmp = tmp_path / "checkpoints" / "checkpoint.tmp5f3a"
  index_tmp.write_text("model_checkpoint_path: ")
  capsys.readouterr()
  assert _resume(tmp_path, 12)[0]["step"] == 12
  log = capsys.readouterr().out
  assert f"removed {stale}" in log and f"removed {index_tmp}" in log
  assert not stale.exists() and not index_tmp.exists()


def _nan_at(strategy, bad_step, where="loss"):
  """A model whose step `bad_step` makes the loss NaN (where="loss") or only the weights."""
  model, opt, train_step = _setup(strategy, optimizer="sgd")

  def step_fn(batch):
    metrics = train_step(batch)
    hit = tf.equal(opt.iterations, bad_step)
    if where == "loss":
      return {"loss": tf.where(hit, float("nan"), metrics["loss"])}
    kernel = model.trainable_variables[0]
    kernel.assign(tf.where(hit, kernel * float("nan"), kernel))
    return metrics

  return model, opt, step_fn


def _all_saved_finite(workdir):
  for index in glob.glob(str(workdir / "checkpoints" / "ckpt-*.index")):
    reader = tf.train.load_checkpoint(index[:-len(".index")])
    for key, dtype in reader.get_variable_to_dtype_map().items():
      if dtype.is_floating:
        assert np.isfinite(reader.get_tensor(key)).all(), (index, key)


def test_divergence_stops_the_run_and_keeps_the_last_finite_checkpoint(tmp_path):
  strategy = _strategy("default")
  model, opt, step_fn = _nan_at(strategy, 7)
  with pytest.raises(InputError, match=r"^training diverged at step 7 \(loss nan\); kept ckpt-5; "
                                       r"lower --config\.train\.learning_rate$"):
    _run(tmp_path, strategy, model, opt, step_fn, _constant_batches(), 20, checkpoint_every=5,
         log_every=10)
  assert [f for f in _ckpt_files(tmp_path) if f.endswith(".index")] == ["ckpt-5.index"]
  _all_saved_finite(tmp_path)


def test_non_finite_weights_are_never_saved(tmp_path):
  # The loss of step 6 is still finite (computed before the update that breaks the weights): the
  # check before manager.save catches it.
  strategy = _strategy("default")
  model, opt, step_fn = _nan_at(strategy, 6, where="weights")
  with pytest.raises(InputError, match=r"diverged at step 6 \(non-finite weights\); kept ckpt-3"):
    _run(tmp_path, strategy, model, opt, step_fn, _constant_batches(), 20, checkpoint_every=3,
         log_every=5)
  _all_saved_finite(tmp_path)


def test_unusable_workdirs_are_refused_without_writing(tmp_path, monkeypatch):
  strategy = _strategy("default")
  model, opt, step_fn = _setup(strategy)
  a_file = tmp_path / "file"
  a_file.write_text("not a folder")
  with pytest.raises(InputError, match="exists and is not a folder"):
    _run(a_file, strategy, model, opt, step_fn, _constant_batches(), 2)
  with pytest.raises(InputError, match="is a file"):
    _run(a_file / "sub", strategy, model, opt, step_fn, _constant_batches(), 2)
  # Read-only (permissions or a read-only file system; the tests may run as root, so access(2)
  # is stubbed).
  monkeypatch.setattr(os, "access", lambda path, mode: False)
  with pytest.raises(InputError, match="read-only"):
    _run(tmp_path / "new", strategy, model, opt, step_fn, _constant_batches(), 2)
  monkeypatch.undo()
  assert not (tmp_path / "new").exists()
  # A write that fails anyway (EROFS from the OS) is one line too.
  def read_only(*args, **kwargs):
    raise OSError(30, "Read-only file system")
  monkeypatch.setattr(os, "makedirs", read_only)
  with pytest.raises(InputError, match="cannot write .*: Read-only file system"):
    _run(tmp_path / "new", strategy, model, opt, step_fn, _constant_batches(), 2)
  monkeypatch.undo()
  def denied(*args, **kwargs):
    raise tf.errors.PermissionDeniedError(None, None, "ckpt-1_temp: Permission denied")
  monkeypatch.setattr(tf.train.CheckpointManager, "save", denied)
  with pytest.raises(InputError, match="^cannot write .*checkpoints: ckpt-1_temp: Permission"):
    _run(tmp_path / "denied", strategy, model, opt, step_fn, _constant_batches(), 2,
         checkpoint_every=1)


def test_shuffled_positions_are_a_pure_function_of_the_counter():
  run = list(inputs.shuffled_positions(0, 5, seed=3).take(15).as_numpy_iterator())
  assert [c for c, _, _ in run] == list(range(15))
  assert [e for _, e, _ in run] == [0] * 5 + [1] * 5 + [2] * 5
  epochs = [[i for _, e, i in run if e == epoch] for epoch in range(3)]
  assert all(sorted(order) == list(range(5)) for order in epochs)
  assert len({tuple(order) for order in epochs}) > 1  # a new order every epoch
  assert list(inputs.shuffled_positions(7, 5, seed=3).take(8).as_numpy_iterator()) == run[7:]
  other = list(inputs.shuffled_positions(0, 5, seed=4).take(15).as_numpy_iterator())
  assert [i for _, _, i in other] != [i for _, _, i in run]


def test_materialize_only_what_is_the_same_on_every_pass():
  x, y = _data(20)
  ds = tf.data.Dataset.from_tensor_slices((x, y))
  arrays, count, note = inputs.materialize(ds)
  assert count == 20 and "in memory (20 examples)" in note
  np.testing.assert_array_equal(arrays[0], x)
  np.testing.assert_array_equal(arrays[1], y)
  # A pipeline that re-randomises on every pass would be frozen by holding it: it streams.
  coins = tf.data.Dataset.random(seed=1, rerandomize_each_iteration=True)  # as data.add_flips
  noisy = tf.data.Dataset.zip(ds, coins).map(
      lambda example, coin: (example[0] * tf.cast(coin % 2 * 2 - 1, tf.float32), example[1]))
  arrays, count, note = inputs.materialize(noisy)
  assert arrays is None and count == 20 and "changes from one pass to the next" in note
  arrays, count, note = inputs.materialize(ds, limit_bytes=100)
  assert arrays is None and count == 20 and "larger than" in note
  arrays, count, note = inputs.materialize(ds.filter(lambda a, b: b >= 0), limit_bytes=100)
  assert arrays is None and "larger than" in note  # size unknown up front: found on the way
  assert inputs.materialize(ds.take(0))[1] == 0
