"""Served requests at the edges: a valid result or the project's own InvalidArgument, never more.

Property-based (hypothesis): requests are drawn over batch sizes (0..3), right and wrong shapes
and ranks, pixel values in and out of [0, 1], NaN/Inf at random places, binary / soft /
all-known / all-missing masks, labels in and out of range, iteration counts from negative to
huge, seeds, and every other option of the signature inside and outside its declared range, for
every signature of a small exported model of each kind. Each request must either

  * succeed with outputs that are finite, batch-major with the request's batch size, images in
    [0, 1], known pixels exactly as sent, and the first image's result the same alone as in
    its batch; or
  * be refused with the project's own message (tfinpaint.inpainting.validation in the graph, or
    tfinpaint.served before it for shapes a TF2 signature cannot take).

TF Serving does not check a request's shapes against the signature, so a sample of the drawn
requests goes through TF Serving's own loader too (the C API in a child process), where every
refusal must be an INVALID_ARGUMENT carrying a project message.

Bounded for the suite: TFINPAINT_PROPERTY_EXAMPLES (default 25 per signature) sets the number of
examples; e.g. TFINPAINT_PROPERTY_EXAMPLES=500 for a long run. Derandomized, so CI reproduces.
"""

import os
import re

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from tfinpaint import served
from tfinpaint.errors import InputError
from tfinpaint.serving import capi

EXAMPLES = int(os.environ.get("TFINPAINT_PROPERTY_EXAMPLES", "25"))
OURS = re.compile(r"must be|must have|contains NaN or Inf|takes no option|needs input|"
                  r"one entry per image|values must be in")
SIGNATURES = [("classifier", "serving_default"), ("classifier", "illumination"),
              ("semantic", "serving_default"), ("semantic", "yeh")]
DRAWN = []  # (kind, signature, inputs) kept for the C API test
OUTCOMES = []  # "ran" / "refused", to check that both paths are exercised


@pytest.fixture(scope="module")
def models(tiny_exports):
  return {k: (served.load(v[1]), v[0]) for k, v in tiny_exports.items()}


FAULTS = ["height", "channels", "rank", "nan", "inf", "high", "low", "mask", "labels",
          "label_count", "threshold", "option", "vector"]


@st.composite
def requests(draw, inpainter, signature):
  """One request; about half carry exactly one fault, so both outcomes are common."""
  sig = inpainter.signatures()[signature]
  names = [s.name for s in sig.inputs]
  h, w, c = inpainter.image_shape
  n = draw(st.integers(0, 3))
  fault = draw(st.sampled_from(["none"] * len(FAULTS) + FAULTS))
  dims = {"height": (n, h - 3, w, c), "channels": (n, h, w, c + 2),
          "rank": (n, h, w)}.get(fault, (n, h, w, c))
  rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
  image = rng.uniform(0, 1, dims).astype(np.float32)
  if fault in ("nan", "inf", "high", "low") and image.size:
    flat = image.reshape(-1)
    flat[rng.integers(0, flat.size)] = {"nan": np.nan, "inf": np.inf, "high": 1.5,
                                        "low": -0.2}[fault]
  inputs = {"image": image}
  if "mask" in names:
    kind = "wrong" if fault == "mask" else draw(
        st.sampled_from(["binary", "soft", "known", "missing"]))
    inputs["mask"] = {
        "binary": (rng.uniform(size=(n, h, w, 1)) > 0.5).astype(np.float32),
        "soft": rng.uniform(size=(n, h, w, 1)).astype(np.float32),
        "known": np.ones((n, h, w, 1), np.float32),
        "missing": np.zeros((n, h, w, 1), np.float32),
        "wrong": np.ones((n, h, w, 2), np.float32)}[kind]
  if "label" in names:
    k = inpainter.num_classes
    low, high = (-2, k + 1) if fault == "labels" else (-1, k - 1)
    labels = draw(st.lists(st.integers(low, high), min_size=n, max_size=n))
    inputs["label"] = np.asarray(labels[:-1] + [0, 0] if fault == "label_count" else labels,
                                 np.int32)
  if "threshold" in names:
    inputs["threshold"] = np.float32(draw(st.sampled_from(
        [0.0, -1.0, 2.0, float("nan")] if fault == "threshold" else [0.3, 0.9, 1.0])))
  iterations = draw(st.sampled_from([-5, 0, 1, 2, 10**9]))
  options = {"iterations": np.asarray([iterations] * 2 if fault == "vector" else iterations,
                                      np.int32)}
  for option in sig.options:
    if option.name == "iterations" or not draw(st.booleans()):
      continue
    choices = [option.default]
    if option.low is not None:
      choices.append(option.low)
    if fault == "option":
      choices = [] if option.low is None else [option.low - 1]
      if option.high is not None and (option.dtype.is_floating or
                                      option.high < option.dtype.as_numpy_dtype(2**31 - 1)):
        choices.append(option.high + 1)
      if option.dtype.is_floating:
        choices += [float("nan"), float("inf")]
      choices = choices or [option.default]
    value = draw(st.sampled_from(choices))
    options[option.name] = np.asarray(value, option.dtype.as_numpy_dtype)
  return inputs, options


def _check_result(model, signature, inputs, options, out):
  n = len(inputs["image"])
  for key, value in out.items():
    assert value.shape[0] == n, key
    if key == "energies":  # +inf marks the labels that were not tried
      assert not np.isnan(value).any()
    elif value.dtype.kind == "f":
      assert np.isfinite(value).all(), key
  assert ((out["inpainted"] >= 0) & (out["inpainted"] <= 1)).all()
  mask = out.get("mask", inputs.get("mask"))
  known = mask[..., 0] >= 0.5
  np.testing.assert_array_equal(out["inpainted"][known], inputs["image"][known])
  if n > 1:
    alone = model.run(signature, {k: (v[:1] if np.ndim(v) and len(v) == n else v)
                                  for k, v in inputs.items()}, options)
    np.testing.assert_allclose(alone["inpainted"][0], out["inpainted"][0], atol=1e-6)


def _property(models, kind, signature):
  model, inpainter = models[kind]

  @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
  @given(requests(inpainter, signature))
  def check(request):
    inputs, options = request
    if len(DRAWN) < 40 and len([d for d in DRAWN if d[:2] == (kind, signature)]) < 10:
      DRAWN.append((kind, signature, inputs, options))
    try:
      out = model.run(signature, inputs, options)
    except InputError as e:
      assert OURS.search(str(e)), str(e)
      OUTCOMES.append("refused")
      return
    _check_result(model, signature, inputs, options, out)
    OUTCOMES.append("ran")

  check()


@pytest.mark.parametrize("kind, signature", SIGNATURES)
def test_every_request_gets_a_valid_result_or_our_refusal(models, kind, signature):
  _property(models, kind, signature)


def test_the_same_through_tf_servings_loader(models, tiny_exports):
  assert DRAWN, "the property tests above keep a sample of their requests"
  # Both outcomes happen often: the strategies are not all refusals.
  assert OUTCOMES.count("ran") >= len(OUTCOMES) // 4 and OUTCOMES.count("refused") >= 5, (
      OUTCOMES.count("ran"), len(OUTCOMES))
  by_kind = {}
  for kind, signature, inputs, options in DRAWN:
    by_kind.setdefault(kind, []).append((signature, dict(inputs, **options)))
  for kind, requests_ in by_kind.items():
    model = models[kind][0]
    result = capi.run(tiny_exports[kind][1], requests_)
    for (signature, feeds), out, error in zip(requests_, result.outputs, result.errors):
      if error is not None:
        code, message = error
        assert code == "INVALID_ARGUMENT" and OURS.search(message), (signature, error)
        continue
      inputs = {k: v for k, v in feeds.items() if k in ("image", "mask", "label", "threshold")}
      options = {k: v for k, v in feeds.items() if k not in inputs}
      _check_result(model, signature, inputs, options, out)
