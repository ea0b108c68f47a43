"""tfinpaint.evaluation: scores by hand, stratified samples, the judge's tables, CSV, grids."""

import csv

import numpy as np
import pytest

from tfinpaint import evaluation, judge, reports
from tfinpaint.errors import InputError


def _constant_method(value):
  def fn(x, m, labels=None, options=None):
    del labels, options
    return {"inpainted": x * m + value * (1.0 - m), "label": np.zeros(len(x), np.int32)}
  return fn


class _Judge:
  """Says class 1 for everything; features: the mean pixel."""

  def predict(self, images):
    return np.ones(len(images), np.int32)

  def features(self, images):
    return np.asarray(images).reshape(len(images), -1)[:, :4].astype(np.float64)


def test_evaluate_matches_hand_computed_psnr():
  x = np.full((2, 16, 16, 1), 0.5, np.float32)  # 0.75 on [0, 1]
  report = evaluation.evaluate(
      {"fill": _constant_method(-0.5), "identity": lambda x, m, l, o: {"inpainted": x}},
      x, np.array([0, 1]), ["center", "left"], judge=_Judge(), reference=x + 0.1,
      class_names=("zero", "one"))
  fill = report.get("center", "fill").summary(report.labels)
  # center hole = 8x8 of 16x16 pixels, error 0.5 on [0, 1]: MSE 0.25 * 64 / 256.
  assert fill["psnr"] == pytest.approx(10 * np.log10(1 / (0.25 * 64 / 256)))
  assert fill["psnr_hole"] == pytest.approx(10 * np.log10(1 / 0.25))
  left = report.get("left", "fill").summary(report.labels)
  assert left["psnr"] == pytest.approx(10 * np.log10(1 / (0.25 * 128 / 256)))
  ident = report.get("center", "identity").summary(report.labels)
  assert ident["psnr"] == np.inf and ident["ssim"] == pytest.approx(1.0)
  assert fill["judge_accuracy"] == 0.5 and report.judge_clean_accuracy == 0.5
  assert np.isfinite(fill["kid"])
  table = reports.markdown_table(report)
  assert table.splitlines()[0] == "| | masked | fill | identity |"
  assert "| PSNR - center |" in table and "| 12.04 | inf |" in table
  text = reports.markdown_report(report)
  assert "judge accuracy - center" in text and "KID x1000 - left" in text
  assert "| one (1) |" in text  # per-class breakdown
  rows = list(csv.DictReader(reports.csv_text(report).splitlines()))
  assert [(r["mask"], r["method"]) for r in rows] == [
      (m, k) for m in ("center", "left") for k in ("masked", "fill", "identity")]
  assert float(rows[1]["psnr"]) == pytest.approx(12.0412, abs=1e-3)
  assert rows[2]["psnr"] == "inf" and float(rows[1]["judge_accuracy"]) == 0.5
  grid = reports.example_grid(report, "center", scale=2)
  assert grid.shape[0] > 2 * 32


def test_stratified_sample_covers_every_class_evenly():
  labels = np.repeat(np.arange(10), 50)  # a sheet in class order
  picked = evaluation.stratified(labels, 100, seed=0)
  assert len(picked) == 100 and len(set(picked)) == 100
  np.testing.assert_array_equal(np.bincount(labels[picked]), [10] * 10)
  again = evaluation.stratified(labels, 100, seed=0)
  np.testing.assert_array_equal(picked, again)
  assert not np.array_equal(picked, evaluation.stratified(labels, 100, seed=1))
  odd = np.bincount(labels[evaluation.stratified(labels, 25, seed=3)])
  assert odd.sum() == 25 and odd.max() - odd.min() == 1


def test_example_grid_shows_every_class_first():
  labels = np.repeat(np.arange(3), 4)
  np.testing.assert_array_equal(reports.example_indices(labels, 5), [0, 4, 8, 1, 2])


def test_kernel_distance():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
  same, _ = judge.kid(a, b)
  shifted, _ = judge.kid(a, b + 1.0)
  assert abs(same) < 0.05 and shifted > 10 * abs(same) + 0.1


def test_evaluate_rejects_nan_results():
  x = np.zeros((1, 16, 16, 1), np.float32)
  with pytest.raises(InputError, match="NaN"):
    evaluation.evaluate({"bad": _constant_method(np.nan)}, x, [0], ["center"])
