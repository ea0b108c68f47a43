"""The SavedModels shipped in exported/, on the real samples shipped in the package.

These are the artefacts users serve. What counts: TF Serving's loader (the C API, in a
subprocess) loads every shipped version, replays its warm-up records and runs every signature
without an ERROR line in its log; and bin.inpaint's files are the served model's output (to
within 1/255) for every method and mask kind.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tfinpaint import export, images, inpaint, methods, served
from tfinpaint import masks as masks_lib
from tfinpaint.serving import capi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = {name: os.path.join(ROOT, "exported", name) for name in served.SHIPPED}
MASKS = ("center", "left", "random", "pattern")



@pytest.fixture(scope="module")
def models():
  return {name: served.load(path) for name, path in SHIPPED.items()}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_tf_serving_loader_runs_every_signature_after_its_warmup(models, name):
  model = models[name]
  requests = []
  for sig, info in model.signatures.items():
    h, w, c = model.image_shape
    x = {"image": np.full((2, h, w, c), 0.5, np.float32), "iterations": np.int32(3)}
    if "mask" in info.inputs:
      x["mask"] = np.ones((2, h, w, 1), np.float32)
      x["mask"][:, h // 4:3 * h // 4, w // 4:3 * w // 4] = 0.0
    if "label" in info.inputs:
      x["label"] = np.array([3, -1], np.int32)
    if "threshold" in info.inputs:
      x["threshold"] = np.float32(0.6)
    requests.append((sig, x))
  result = capi.run(model.version_dir, requests, warmup=True)
  assert result.warmup_requests == len(model.signatures)
  assert result.errors == [None] * len(requests), result.errors
  for out in result.outputs:
    assert np.isfinite(out["inpainted"]).all() and out["inpainted"].shape[0] == 2
  errors = [l for l in result.log.splitlines() if l.startswith("E")]
  assert not errors, errors[:3]  # e.g. Grappler's remapper on LeakyReluGrad (fixed)


def test_saved_model_cli_shows_concrete_shapes():
  out = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show",
                        "--dir", export.version_dir(SHIPPED["digits_lenet"]), "--all"],
                       capture_output=True, text=True, timeout=300, check=True).stdout
  assert "shape: (-1, 28, 28, 1)" in out and "shape: (-1)" in out
  ours = out.split("signature_def['__saved_model_init_op']")[0] + out.split(
      "signature_def['illumination']")[1]
  assert "unknown_rank" not in ours


def _request(job, options, threshold):
  """The TF Serving request of a bin.inpaint job."""
  info = job.method.model.signatures[job.method.signature]
  x = {"image": images.to_unit(job.images)}
  if "mask" in info.inputs:
    x["mask"] = job.masks
  if "label" in info.inputs:
    x["label"] = job.labels
  if "threshold" in info.inputs:
    x["threshold"] = np.float32(threshold)
  x.update({k: np.asarray(v, info.inputs[k][0]) for k, v in
            dict(options, **job.method.fixed).items()})
  return job.method.signature, x


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_bin_inpaint_writes_what_tf_serving_serves(models, name, tmp_path):
  # Every method of the model x every mask kind: bin.inpaint's PNGs (its library, in this
  # process) against one TF Serving loader process given the same requests.
  model, runs, requests = models[name], [], []
  for method in model.methods:
    fixed = model.methods[method][1]
    options = {k: v for k, v in {"iterations": 10, "seed": 3}.items() if k not in fixed}
    for mask in ("illumination",) if method == "illumination" else MASKS:
      out = tmp_path / f"{method}_{mask}"
      settings = inpaint.Settings(model_dir=(SHIPPED[name],), method=method,
                                  mask="center" if method == "illumination" else mask,
                                  num_images=3, seed=3, output_dir=str(out),
                                  illumination_threshold=0.3 if method == "illumination"
                                  else None)
      sent = {k: v for k, v in options.items() if k != "seed"}  # the run's seed goes with it
      _, _, rows = inpaint.run(settings, sent, log=lambda line: None, models=[model])
      job = inpaint.plan(settings, [model])[0]
      if method == "illumination":
        inpaint.execute(job, options, 0.3)  # the job's mask comes from the model
      runs.append((method, mask, out, rows))
      requests.append(_request(job, options, 0.3))
  result = capi.run(model.version_dir, requests)
  assert result.errors == [None] * len(requests), result.errors
  for (method, mask, out, rows), served_out in zip(runs, result.outputs):
    theirs = images.to_uint8(served_out["inpainted"])
    for i, row in enumerate(rows):
      ours = images.read_image(str(out / inpaint.INPAINTED / f"{row['name']}.png"))
      diff = np.abs(ours - theirs[i].reshape(ours.shape) / 255.0).max()
      assert diff <= 1 / 255 + 1e-6, (method, mask, row["name"], diff)


@pytest.mark.parametrize("name, samples, data", [
    ("digits_lenet", "digits", "sheet:/usr/share/doc/opencv-doc/examples/data/digits.png"),
    ("fashion_semantic", "fashion", "idx:/usr/share/datasets/fashion-mnist")])
def test_each_shipped_model_shows_its_own_samples_and_names_its_data(models, name, samples, data):
  # The default demo and bin.evaluate read these from the export: a re-export that lost them
  # showed the Fashion-MNIST model digits.
  assert (models[name].samples, models[name].data) == (samples, data)
  _, _, names, _ = inpaint.samples_for(models[name], models[name].image_shape)
  assert len(names) == 16 and all(n.startswith(samples) for n in names), names


def test_classifier_fills_bring_the_label_back_on_real_digits(models):
  # Paper 003's claim: a centre hole hides the class; the fill (towards the true label) brings
  # it back for the classifier the method uses. The independent judge is in bin.evaluate.
  model = models["digits_lenet"]
  x, labels, _, _ = inpaint.samples_for(model, model.image_shape)
  mask = np.ones(x.shape[:3] + (1,), np.float32)
  mask[:, 7:21, 7:21] = 0
  out = methods.get("classifier", [model])(x, mask, labels)
  assert (out["label"] == labels).all() and np.isfinite(out["energy"]).all()
  assert (out["energies"][np.arange(len(labels)), labels] == out["energy"]).all()


def _batch_of(model, batch):
  """`batch` shipped samples (repeated) with masks of every kind, as a client would send."""
  x, labels, _, _ = inpaint.samples_for(model, model.image_shape)
  reps = -(-batch // len(x))
  x, labels = np.concatenate([x] * reps)[:batch], np.concatenate([labels] * reps)[:batch]
  mask = np.concatenate([masks_lib.make(k, batch, *model.image_shape[:2], seed=7)
                         for k in MASKS])[np.arange(batch) * len(MASKS) % (batch * len(MASKS))]
  return x, mask, labels


def _differences(model, batch, iterations, rows):
  """{row: pixels that differ between the row alone and the row in a batch of `batch`}."""
  x, mask, labels = _batch_of(model, batch)
  method = methods.get(model.default_method, [model])
  options = {} if iterations is None else {"iterations": iterations}
  together = method(x, mask, labels, options)["inpainted"]
  return {int(i): int(np.sum(method(x[i:i + 1], mask[i:i + 1], labels[i:i + 1], options)
                             ["inpainted"][0] != together[i])) for i in rows}


@pytest.mark.parametrize("name, batch, iterations, rows", [
    # 37 is not a multiple of the block's 15 request rows; 14 and 15 are the two sides of the
    # first block's edge.
    ("digits_lenet", 37, None, (0, 14, 15, 36)),
    ("fashion_semantic", 9, 60, (0, 8)),
    # Issue 23, still open for the semantic model: the shipped export keeps block_fillers=0 so
    # that its published table stays what it measured; image 3 (rows 6 and 7 of the first
    # 8-row block, 2 starts each) then differs from itself alone (159 pixels, at most 1.0e-4,
    # in a batch of 23 at 60 iterations). Exported with the default block_fillers=2 it holds.
    pytest.param("fashion_semantic", 9, 60, (3,), marks=pytest.mark.xfail(
        strict=True, raises=AssertionError,
        reason="issue 23: the shipped semantic export has no filler rows yet"))])
def test_an_images_result_does_not_depend_on_its_batch(models, name, batch, iterations, rows):
  # TF Serving batches requests of different clients together. The descents run in fixed-size
  # blocks of rows, the last of them fillers (base.in_blocks), so that an image's result is
  # bitwise the same alone and at any position of a batch of other images with other masks.
  assert _differences(models[name], batch, iterations, rows) == {i: 0 for i in rows}


def test_the_semantic_model_with_its_default_filler_rows_is_batch_independent(models):
  # What a re-export with the default block_fillers=2 gives (the shipped one has 0: issue 23).
  import dataclasses  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  saved = export.load_networks(SHIPPED["fashion_semantic"])
  config = dataclasses.replace(saved.config, block_fillers=2)
  defaults = {f.name: f.default for f in dataclasses.fields(type(saved.config))}
  assert defaults["block_fillers"] == 2
  function = type(saved)(saved.networks, config, saved.arrays).function("serving_default")
  x, mask, _ = _batch_of(models["fashion_semantic"], 9)
  run = lambda rows: function(image=images.to_unit(x[rows]), mask=mask[rows],
                              iterations=tf.constant(60))["inpainted"].numpy()
  together = run(slice(0, 9))
  for i in (0, 3, 8):  # first, a block's last request rows (6 and 7 without fillers), last
    np.testing.assert_array_equal(run(slice(i, i + 1))[0], together[i])


def test_batch_independence_at_64_in_a_users_process(tmp_path):
  # Issue 23 failed here: the last row of a full block differed (183 of 784 pixels). The check
  # runs in a process started as a user's command is (bin.cli sets the environment first).
  script = ("import sys; from bin import cli\n"
            "from tests import test_shipped as t; from tfinpaint import served\n"
            "m = served.load(served.find_shipped('digits_lenet'))\n"
            "print(t._differences(m, 64, None, [0, 14, 15, 63]))\n")
  env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
  proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=1500)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip().splitlines()[-1] == "{0: 0, 14: 0, 15: 0, 63: 0}", proc.stdout
