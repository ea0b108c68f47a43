"""Tests for tfinpaint.plots: line charts and labelled grids drawn with PIL."""

import numpy as np

from tfinpaint import plots


def test_line_chart_draws_each_series():
  trace = np.concatenate([np.linspace(5, 0.5, 50), [np.nan], np.zeros(9)])
  chart = plots.line_chart([trace, np.full(60, 2.0)], labels=["a", "b"], log_y=True,
                           title="t", size=(320, 200))
  assert chart.shape == (200, 320, 3) and 0 <= chart.min() and chart.max() <= 1
  pixels = np.round(chart * 255).astype(int).reshape(-1, 3)
  for color in plots.COLORS[:2]:
    assert (pixels == color).all(axis=1).sum() > 50
  assert plots.nice_ticks(0, 299) == [0, 100, 200, 300]
  assert plots.nice_ticks(0.1, 5.2) == [0, 2, 4, 6]


def test_labeled_grid_wraps_long_columns():
  col = np.zeros((11, 4, 4, 1), np.float32)
  one = plots.labeled_grid([col[:3], col[:3]], ["x", "y"], max_rows=8)
  two = plots.labeled_grid([col, col], ["x", "y"], max_rows=8)
  assert one.shape[0] == 16 + 3 * 6 + 2
  # 11 images in at most 8 rows: two blocks of equal height (6 + 5), not 8 + 3.
  assert two.shape[0] == 16 + 6 * 6 + 2 and two.shape[1] == 2 * one.shape[1] + 8
