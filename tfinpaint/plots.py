"""Line charts as images, drawn with numpy + PIL only.

The papers' optimisation traces (Figure 6 of paper 003: the gradient norm per
iteration; Figure 3 of paper 000: the losses per iteration) are what tells a
user whether the inpainting converged. matplotlib is not a dependency, so the
charts are drawn here: axes, "nice" tick labels, one polyline per series and
a legend. The result is an HWC float image in [0, 1] for `images.write_png`.
"""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tfinpaint.errors import InputError

# Tableau-like palette: distinguishable, prints well in grey too.
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
_AXIS = (0, 0, 0)
_GRID = (225, 225, 225)


def nice_ticks(lo, hi, count=5):
  """About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k)."""
  if not (math.isfinite(lo) and math.isfinite(hi)):
    raise InputError(f"cannot place ticks on [{lo}, {hi}]")
  if hi <= lo:
    hi = lo + (abs(lo) if lo else 1.0)
  raw = (hi - lo) / max(count, 1)
  mag = 10.0 ** math.floor(math.log10(raw))
  step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
  first = math.floor(lo / step + 1e-9) * step
  ticks = []
  v = first
  while v <= hi + step * 1e-9:
    ticks.append(round(v, 12))
    v += step
  if ticks[-1] < hi:
    ticks.append(round(ticks[-1] + step, 12))
  return ticks


def _format(v):
  if v == 0:
    return "0"
  if abs(v) >= 1e4 or abs(v) < 1e-3:
    return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
  return f"{v:g}"


def line_chart(series, *, title="", xlabel="", ylabel="", labels=None, log_y=False,
               size=(640, 400), xs=None):
  """Draws series as lines over their index (iteration 0, 1, ...).

  Args:
    series: a 1-D sequence, or a list of 1-D sequences / a [S, T] array (one
      line per row, lengths may differ). Non-finite values (and, with log_y,
      values <= 0) are gaps in the line.
    title, xlabel, ylabel: text drawn on the chart.
    labels: optional legend text, one per series.
    log_y: logarithmic y axis (decades as ticks).
    size: (width, height) in pixels.
    xs: x coordinate of each point (shared by the series; default 0, 1, 2, ...).

  Returns:
    np.float32 [height, width, 3] in [0, 1].
  """
  if isinstance(series, np.ndarray):
    series = [series] if series.ndim == 1 else list(series.reshape(series.shape[0], -1))
  elif len(series) and np.ndim(series[0]) == 0:
    series = [series]
  series = [np.asarray(s, np.float64).reshape(-1) for s in series]
  if not series:
    raise InputError("line_chart needs at least one series")
  if labels is not None and len(labels) != len(series):
    raise InputError(f"line_chart got {len(labels)} labels for {len(series)} series")

  def usable(s):
    ok = np.isfinite(s)
    return ok & (s > 0) if log_y else ok

  values = np.concatenate([s[usable(s)] for s in series])
  if values.size == 0:
    ys_lo, ys_hi = (0.0, 1.0)
  else:
    ys_lo, ys_hi = float(values.min()), float(values.max())
  if log_y:
    lo_exp = math.floor(math.log10(ys_lo)) if values.size else 0
    hi_exp = math.ceil(math.log10(ys_hi)) if values.size else 1
    hi_exp = max(hi_exp, lo_exp + 1)
    step = max(1, math.ceil((hi_exp - lo_exp) / 6))
    yticks = [10.0 ** e for e in range(lo_exp, hi_exp + 1, step)]
    if math.log10(yticks[-1]) < hi_exp:
      yticks.append(10.0 ** (lo_exp + step * len(yticks)))
    if hi_exp - lo_exp <= 2:  # few decades: also 2x and 5x ticks
      yticks = sorted(t * m for t in yticks for m in (1, 2, 5) if t * m <= yticks[-1])
    y_lo, y_hi = math.log10(yticks[0]), math.log10(yticks[-1])
    ymap = math.log10
  else:
    yticks = nice_ticks(min(ys_lo, 0.0) if ys_lo >= 0 else ys_lo, ys_hi)
    y_lo, y_hi = yticks[0], yticks[-1]
    ymap = float
  length = max(len(s) for s in series)
  xs = np.arange(length, dtype=np.float64) if xs is None else np.asarray(xs, np.float64)
  if len(xs) < length:
    raise InputError(f"line_chart got {len(xs)} x values for series of length {length}")
  xticks = [t for t in nice_ticks(float(xs.min()), max(float(xs.max()), float(xs.min()) + 1))
            if t == int(t)]
  x_lo, x_hi = float(xticks[0]), float(xticks[-1])

  width, height = size
  img = Image.new("RGB", (width, height), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font = ImageFont.load_default()
  left, right, top, bottom = 80, width - 16, 28 if title else 12, height - 40

  def px(x, y):
    fx = (x - x_lo) / (x_hi - x_lo) if x_hi > x_lo else 0.0
    fy = (ymap(y) - y_lo) / (y_hi - y_lo) if y_hi > y_lo else 0.0
    return left + fx * (right - left), bottom - fy * (bottom - top)

  for t in yticks:
    _, y = px(0, t)
    draw.line([(left, y), (right, y)], fill=_GRID)
    text = _format(t)
    tw = draw.textlength(text, font=font)
    draw.text((left - 6 - tw, y - 6), text, fill=_AXIS, font=font)
  for t in xticks:
    x, _ = px(t, yticks[0])
    draw.line([(x, bottom), (x, bottom + 4)], fill=_AXIS)
    text = _format(t)
    draw.text((x - draw.textlength(text, font=font) / 2, bottom + 6), text, fill=_AXIS, font=font)
  draw.line([(left, top), (left, bottom), (right, bottom)], fill=_AXIS, width=1)

  for k, s in enumerate(series):
    color = COLORS[k % len(COLORS)]
    ok = usable(s)
    run = []
    for i in range(len(s) + 1):
      if i < len(s) and ok[i]:
        run.append(px(xs[i], s[i]))
        continue
      if len(run) == 1:
        x, y = run[0]
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=color)
      elif run:
        draw.line(run, fill=color, width=2)
      run = []

  if title:
    draw.text(((width - draw.textlength(title, font=font)) / 2, 8), title, fill=_AXIS, font=font)
  if xlabel:
    draw.text(((left + right - draw.textlength(xlabel, font=font)) / 2, height - 16), xlabel,
              fill=_AXIS, font=font)
  if ylabel:  # rotated along the left edge, so a long label is never cut off
    tw = int(draw.textlength(ylabel, font=font)) + 4
    label = Image.new("RGB", (tw, 14), (255, 255, 255))
    ImageDraw.Draw(label).text((2, 1), ylabel, fill=_AXIS, font=font)
    label = label.rotate(90, expand=True)
    img.paste(label, (4, max(0, int((top + bottom - label.size[1]) / 2))))
  if labels:
    lx = right - 8 - max(draw.textlength(str(s), font=font) for s in labels) - 20
    for k, text in enumerate(labels):
      y = top + 6 + 14 * k
      color = COLORS[k % len(COLORS)]
      draw.line([(lx, y + 6), (lx + 14, y + 6)], fill=color, width=2)
      draw.text((lx + 18, y), str(text), fill=_AXIS, font=font)
  return np.asarray(img, np.float32) / 255.0


def side_by_side(panels, gap=12):
  """HWC [0, 1] images next to each other, top-aligned on white, grey promoted to RGB."""
  panels = [np.asarray(p, np.float32) for p in panels]
  if len(panels) == 1:
    return panels[0]
  c = max(p.shape[-1] for p in panels)
  h = max(p.shape[0] for p in panels)
  parts = []
  for k, p in enumerate(panels):
    p = np.broadcast_to(p, p.shape[:2] + (c,))
    p = np.concatenate([p, np.ones((h - p.shape[0],) + p.shape[1:], np.float32)], axis=0)
    if k:
      parts.append(np.ones((h, gap, c), np.float32))
    parts.append(p)
  return np.concatenate(parts, axis=1)


def _text_strip(text, width, height=16, channels=3, align="center"):
  """A white strip with one line of text (shortened to fit)."""
  strip = Image.new("RGB", (max(int(width), 1), height), (255, 255, 255))
  draw = ImageDraw.Draw(strip)
  font = ImageFont.load_default()
  text = str(text)
  while text and draw.textlength(text, font=font) > width - 4:
    text = text[:-1]
  x = (width - draw.textlength(text, font=font)) / 2 if align == "center" else 2
  draw.text((x, (height - 11) / 2), text, fill=_AXIS, font=font)
  out = np.asarray(strip, np.float32) / 255.0
  return out.mean(axis=-1, keepdims=True) if channels == 1 else out


def labeled_grid(columns, titles, *, pad=2, scale=1, max_rows=8, title=None, row_titles=None):
  """`images.grid` with a header row naming each column (e.g. masked | telea | original).

  Args:
    columns: list of [N, H, W, C] arrays in [0, 1].
    titles: one string per column; shortened to fit the column width.
    pad, scale: as for `images.grid`.
    max_rows: more images than this are laid out in several side-by-side blocks
      (16 digits -> 2 blocks of 8), so the grid stays readable.
    title: optional text above the grid.
    row_titles: optional caption per image, written to the right of its row.

  Returns:
    float32 [rows, cols, C] image in [0, 1] (C of the grid).
  """
  if len(titles) != len(columns):
    raise InputError(f"labeled_grid got {len(titles)} titles for {len(columns)} columns")
  columns = [np.asarray(c, np.float32) for c in columns]
  n = columns[0].shape[0]
  rows = max(1, min(int(max_rows), n))
  rows = -(-n // -(-n // rows))  # blocks of equal height: 10 images as 5 + 5, not 8 + 2
  blocks = []
  for start in range(0, n, rows):
    part = [c[start:start + rows] for c in columns]
    if len(part[0]) < rows:  # white cells below the last image
      part = [np.concatenate([p, np.ones((rows - len(p),) + p.shape[1:], np.float32)])
              for p in part]
    block = _block(part, titles, pad, scale)
    if row_titles is not None:
      captions = list(row_titles[start:start + rows]) + [""] * (rows - len(part[0]) + 0)
      captions = captions[:rows]
      step = (columns[0].shape[1] + pad) * scale
      cap = np.ones((block.shape[0], 150, block.shape[2]), np.float32)
      for i, text in enumerate(captions):
        y = 16 + pad * scale + i * step + (columns[0].shape[1] * scale - 16) // 2
        cap[y:y + 16] = _text_strip(text, 150, 16, block.shape[2], align="left")
      block = np.concatenate([block, cap], axis=1)
    blocks.append(block)
  out = side_by_side(blocks, gap=4 * pad * scale) if len(blocks) > 1 else blocks[0]
  if title:
    out = np.concatenate([_text_strip(title, out.shape[1], 18, out.shape[2]), out], axis=0)
  return out


def _block(columns, titles, pad, scale):
  from tfinpaint import images  # pylint: disable=g-import-not-at-top
  body = images.grid(columns, pad=pad, scale=scale)
  cell = columns[0].shape[2] * scale
  step = cell + pad * scale
  header = Image.new("RGB", (body.shape[1], 16), (255, 255, 255))
  draw = ImageDraw.Draw(header)
  font = ImageFont.load_default()
  for j, title in enumerate(titles):
    text = str(title)
    while text and draw.textlength(text, font=font) > step:
      text = text[:-1]
    x0 = pad * scale + j * step
    draw.text((x0 + (cell - draw.textlength(text, font=font)) / 2, 2), text, fill=_AXIS,
              font=font)
  head = np.asarray(header, np.float32) / 255.0
  if body.shape[-1] == 1:
    head = head.mean(axis=-1, keepdims=True)
  return np.concatenate([head, body], axis=0)
