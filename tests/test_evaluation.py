"""Tests for tfinpaint.evaluation: scores against hand-computed values, tables, CSV, grids."""

import csv

import numpy as np
import pytest

from tfinpaint import evaluation
from tfinpaint.errors import InputError


def _constant_method(value):
  def fn(x, m, labels=None, mask_name=None):
    del labels, mask_name
    return {"inpainted": x * m + value * (1.0 - m), "label": np.zeros(len(x), np.int32)}
  return fn


def test_evaluate_matches_hand_computed_psnr():
  x = np.full((2, 16, 16, 1), 0.5, np.float32)  # 0.75 on [0, 1]
  report = evaluation.evaluate(
      {"fill": _constant_method(-0.5), "identity": lambda x, m, l, n: {"inpainted": x}},
      x, np.array([0, 1]), ["center", "left"], batch_size=1,
      classifier=lambda imgs: np.tile([[0.0, 1.0]], (len(imgs), 1)))
  fill = report.get("center", "fill").summary()
  # center hole = 8x8 of 16x16 pixels, error 0.5 on [0, 1]: MSE 0.25 * 64 / 256.
  assert fill["psnr"] == pytest.approx(10 * np.log10(1 / (0.25 * 64 / 256)))
  assert fill["psnr_hole"] == pytest.approx(10 * np.log10(1 / 0.25))
  left = report.get("left", "fill").summary()
  assert left["psnr"] == pytest.approx(10 * np.log10(1 / (0.25 * 128 / 256)))
  ident = report.get("center", "identity").summary()
  assert ident["psnr"] == np.inf and ident["ssim"] == pytest.approx(1.0)
  assert fill["label_accuracy"] == 0.5  # classifier always says 1; labels are 0, 1
  table = evaluation.markdown_table(report)
  assert table.splitlines()[0] == "| | fill | identity |"
  assert "| PSNR - center | 12.04 | inf |" in table
  assert "| SSIM - left |" in table
  rows = list(csv.DictReader(evaluation.csv_text(report).splitlines()))
  assert [(r["mask"], r["method"]) for r in rows] == [
      (m, k) for m in ("center", "left") for k in ("masked", "fill", "identity")]
  assert float(rows[1]["psnr"]) == pytest.approx(12.0412, abs=1e-3)
  assert rows[2]["psnr"] == "inf"
  grid = evaluation.example_grid(report, "center", scale=2)
  assert grid.shape[1] == 4 * (32 + 4) + 4  # masked, fill, identity, original


def test_evaluate_rejects_nan_results():
  x = np.zeros((1, 16, 16, 1), np.float32)
  with pytest.raises(InputError, match="NaN"):
    evaluation.evaluate({"bad": _constant_method(np.nan)}, x, [0], ["center"])
