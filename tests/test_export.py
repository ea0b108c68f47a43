"""The exported SavedModel is the product: layout, declared signatures, TF Serving's loader.

Both kinds of inpainter are exported once per session (conftest.tiny_exports). The loader that
counts is TF Serving's (the C API, tfinpaint.serving.capi, in a subprocess that never imports
TensorFlow's Python package); `tf.saved_model.load` (what the CLIs use through
tfinpaint.served) must give the same numbers, and `saved_model_cli run` is a second check.
"""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tfinpaint import export, served
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.errors import InputError
from tfinpaint.serving import capi, warmup

KINDS = ("classifier", "semantic")


def inputs_for(kind, n=2, seed=0):
  image, mask = helpers.request(n, seed)
  out = {"image": image, "mask": mask}
  if kind == "classifier":
    out["label"] = np.array([0, -1, 2, 1, 0, 2][:n], np.int32)
  return out


@pytest.fixture(scope="module")
def models(tiny_exports):
  return {k: served.load(v[1]) for k, v in tiny_exports.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_layout(tiny_exports, kind):
  inpainter, version_dir = tiny_exports[kind]
  base = os.path.dirname(version_dir)
  assert os.path.basename(version_dir) == "1" and export.versions(base) == [1]
  assert export.next_version(base) == 2
  meta = export.read_metadata(version_dir)
  assert meta["kind"] == inpainter.KIND and meta["samples"] == "digits"
  assert meta["default_method"] == inpainter.default_method
  assert set(meta["signatures"]) == set(inpainter.signatures())
  assert len(warmup.requests(inpainter)) == len(capi.warmup_requests(version_dir))
  assert os.path.isfile(os.path.join(base, export.NETWORKS_DIR, export.NETWORKS_CONFIG))
  with pytest.raises(InputError, match="already exists"):
    export.export(inpainter, base, 1)
  with pytest.raises(InputError, match=r"--config\.export\.overwrite=true"):
    export.save_networks(inpainter, base)


@pytest.mark.parametrize("kind", KINDS)
def test_signatures_declare_shapes_and_option_defaults(models, tiny_exports, kind):
  inpainter = tiny_exports[kind][0]
  sigs = models[kind].signatures
  assert set(sigs) == set(inpainter.signatures())
  for name, info in sigs.items():
    assert info.inputs["image"][1] == (None, 16, 16, 1)
    if "mask" in info.inputs:
      assert info.inputs["mask"][1] == (None, 16, 16, 1)
    if "label" in info.inputs:
      assert info.inputs["label"][1] == (None,)
    for option in inpainter.signatures()[name].options:
      assert info.inputs[option.name][1] == ()
      assert info.defaults[option.name] == option.default, (name, option.name)
  if kind == "semantic":
    assert {"yeh", "semantic", "full", "serving_default"} == set(sigs)
  else:
    assert {"serving_default", "illumination"} == set(sigs)


@pytest.mark.parametrize("kind", KINDS)
def test_loaded_model_computes_what_the_module_computes(models, tiny_exports, kind):
  inpainter = tiny_exports[kind][0]
  for name, sig in inpainter.signatures().items():
    x = inputs_for(kind, 3, seed=1)
    x = {k: v for k, v in x.items() if k in [s.name for s in sig.inputs]}
    if "threshold" in [s.name for s in sig.inputs]:
      x["threshold"] = np.float32(0.3)
    ours = models[kind].run(name, x, {"seed": 5})
    direct = inpainter.function(name)(**x, seed=tf.constant(5))
    assert set(ours) == set(direct)
    for key in ours:
      np.testing.assert_allclose(ours[key], direct[key].numpy(), atol=1e-6, err_msg=(name, key))
    known = x.get("mask", ours.get("mask"))[..., 0] > 0.5
    np.testing.assert_allclose(ours["inpainted"][known], x["image"][known], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_tf_serving_loader_runs_every_signature_and_the_warmup(models, tiny_exports, kind):
  version_dir = tiny_exports[kind][1]
  requests = []
  for name, info in models[kind].signatures.items():
    x = {k: v for k, v in inputs_for(kind, 2).items() if k in info.inputs}
    if "threshold" in info.inputs:
      x["threshold"] = np.float32(0.3)
    requests.append((name, x))
  result = capi.run(version_dir, requests, warmup=True)
  assert result.warmup_requests == len(models[kind].signatures)
  assert result.errors == [None] * len(requests)
  for (name, x), out in zip(requests, result.outputs):
    expected = models[kind].run(name, x)
    assert set(out) == set(expected)
    for key in out:
      np.testing.assert_allclose(out[key], expected[key], atol=1e-5, err_msg=(name, key))
  assert not [l for l in result.log.splitlines() if l.startswith("E")], result.log[-2000:]


def test_saved_model_cli_is_a_second_loader(tiny_exports, models, tmp_path):
  version_dir = tiny_exports["classifier"][1]
  x = inputs_for("classifier")
  feeds = dict(x, **{k: np.asarray(v) for k, v in models["classifier"].options(
      "serving_default").items()})
  out = helpers.saved_model_cli_run(version_dir, "serving_default", feeds, tmp_path)
  np.testing.assert_allclose(out["inpainted"],
                             models["classifier"].run("serving_default", x)["inpainted"],
                             atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_edge_requests_give_valid_results(models, kind):
  m = models[kind]
  x = inputs_for(kind, 2)
  zero = m.run("serving_default", x, {"iterations": 0})
  negative = m.run("serving_default", x, {"iterations": -3})
  for key in zero:
    np.testing.assert_array_equal(zero[key], negative[key])  # negative counts run 0
  assert (zero["iterations"] == 0).all()
  capped = m.run("serving_default", x, {"iterations": 10**9})
  assert (capped["iterations"] <= 6).all()
  empty = m.run("serving_default", {k: v[:0] for k, v in x.items()})
  for key, value in empty.items():
    assert value.shape[0] == 0 and value.ndim == zero[key].ndim, key


@pytest.mark.parametrize("kind, change, message", [
    ("classifier", lambda x: x.update(image=x["image"][:, :12]), "image must be"),
    ("classifier", lambda x: x["image"].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    ("classifier", lambda x: x.update(label=np.array([0, 7], np.int32)), "label must be -1"),
    ("classifier", lambda x: x.update(step_size=np.float32(-1.0)), "step_size must be"),
    ("semantic", lambda x: x.update(mask=x["mask"] * 2.0), "mask values"),
    ("semantic", lambda x: x.update(lambda_sem=np.float32(np.inf)), "lambda_sem must be"),
])
def test_bad_requests_are_invalid_argument_with_our_message(tiny_exports, models, kind, change,
                                                            message):
  x = inputs_for(kind, 2)
  change(x)
  options = {k: x.pop(k) for k in list(x) if k not in ("image", "mask", "label")}
  if x["image"].shape[1] == 16:  # shapes are checked before the graph in tfinpaint.served
    with pytest.raises(InputError, match=message):
      models[kind].run("serving_default", x, options)
  result = capi.run(tiny_exports[kind][1], [("serving_default", dict(x, **options))])
  code, text = result.errors[0]
  assert code == "INVALID_ARGUMENT" and message in text, text


MISSHAPEN = [
    ("classifier", "iterations", np.array([2, 3], np.int32), "iterations must be a scalar"),
    ("classifier", "label", np.int32(1), "label must have rank 1"),
    ("classifier", "label", np.array([[0], [1]], np.int32), "label must have rank 1"),
    ("classifier", "image", None, "image must have rank 4"),  # rank 5: a new leading axis
    ("classifier", "step_size", np.float32(1e-6), None),  # the documented bound, as float32
    ("classifier", "image", 2.0, "image values must be in [0, 1]"),  # brackets and all
    ("semantic", "iterations", np.array([2, 3], np.int32), "iterations must be a scalar"),
    ("semantic", "momentum", np.float32(0.999), None),  # the documented bound, as float32
]


@pytest.mark.parametrize("kind, name, value, message", MISSHAPEN)
def test_misshapen_requests_get_our_message_from_every_loader(tiny_exports, kind, name, value,
                                                              message):
  """TF Serving's loader and tf.saved_model.load alike: the graph's own check answers, never an
  op downstream of it (Grappler trusts the declared shapes; the checks must not)."""
  inpainter, version_dir = tiny_exports[kind]
  x = inputs_for(kind)
  if name == "image":
    x["image"] = x["image"][None] if value is None else x["image"] * 0 + value
  else:
    x[name] = value
  x.setdefault("iterations", np.int32(2))
  code_text = capi.run(version_dir, [("serving_default", x)]).errors
  signature = tf.saved_model.load(version_dir).signatures["serving_default"]
  feeds = {o.name: tf.constant(o.default, o.dtype) for o in inpainter.options()}
  feeds.update({k: tf.constant(v) for k, v in x.items()})
  if message is None:
    assert not any(code_text), code_text
    signature(**feeds)
    return
  assert code_text[0][0] == "INVALID_ARGUMENT" and message in served.error_message(
      code_text[0][1]), code_text
  with pytest.raises(tf.errors.InvalidArgumentError) as caught:
    signature(**feeds)
  assert served.error_message(caught.value) == message or message in served.error_message(
      caught.value), caught.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_only_core_ops_and_no_jit(tiny_exports, kind):
  graph = helpers.saved_graph(tiny_exports[kind][1])
  assert not graph["ops"] & helpers.FORBIDDEN_OPS
  assert not graph["xla"]


@pytest.mark.parametrize("kind", KINDS)
def test_networks_round_trip_and_reexport(tiny_exports, kind, tmp_path):
  inpainter, version_dir = tiny_exports[kind]
  again = export.load_networks(os.path.dirname(version_dir))
  assert again.config == inpainter.config and type(again) is type(inpainter)
  x = inputs_for(kind)
  a = inpainter.function("serving_default")(**x, iterations=tf.constant(2))
  b = again.function("serving_default")(**x, iterations=tf.constant(2))
  np.testing.assert_allclose(a["inpainted"].numpy(), b["inpainted"].numpy(), atol=1e-6)


def test_damaged_export_fails_everywhere_alike(tiny_exports, tmp_path):
  source = tiny_exports["classifier"][1]
  broken = tmp_path / "broken" / "1"
  shutil.copytree(source, broken)
  data = broken / "variables" / "variables.data-00000-of-00001"
  data.write_bytes(data.read_bytes()[:100])
  with pytest.raises(InputError, match="cannot load the SavedModel"):
    served.load(tmp_path / "broken")
  with pytest.raises(RuntimeError, match="TF_LoadSessionFromSavedModel failed"):
    capi.run(str(broken), [])
  (tmp_path / "empty").mkdir()
  with pytest.raises(InputError, match="no exported version"):
    served.load(tmp_path / "empty")
  meta = broken / export.ASSETS_EXTRA / export.METADATA_FILE
  meta.write_text(json.dumps({"format": 1}))
  with pytest.raises(InputError, match="format-2"):
    export.read_metadata(broken)


def test_a_re_export_from_networks_keeps_data_and_samples_and_takes_new_defaults(tmp_path):
  from tfinpaint import release  # pylint: disable=g-import-not-at-top
  base = tmp_path / "model"
  inpainter = helpers.tiny_classifier_inpainter()
  export.save_networks(inpainter, base)
  export.export(inpainter, base, extra={"samples": "fashion", "data": "idx:/some/where"})
  experiment = Experiment(
      request=dataclasses.replace(inpainter.config, iterations=3),
      export=ExportConfig(export_dir=str(base), from_networks=str(base / "networks")))
  written = release.export_model(experiment)
  assert written["version"].endswith("2")
  meta = export.read_metadata(written["version"])
  assert meta["samples"] == "fashion" and meta["data"] == "idx:/some/where"
  assert meta["config"]["iterations"] == 3
  # Elsewhere, from copied networks alone: nothing to inherit, and nothing is made up.
  other = tmp_path / "copy"
  shutil.copytree(base / "networks", other / "networks")
  experiment = Experiment(request=inpainter.config,
                          export=ExportConfig(export_dir=str(other), from_networks=str(other)))
  meta = export.read_metadata(release.export_model(experiment)["version"])
  assert "samples" not in meta and "data" not in meta
