r"""Inpaints images: python -m bin.inpaint [--input=IMG|A,B|DIR] [--mask=...] [--method=...]

With no flags it inpaints the real held-out digits shipped in the package (center mask) with
the best method available: the shipped classifier-guided model exported/digits_lenet (paper 003,
towards each digit's true label), else PatchMatch / Telea. Writes one PNG per image, the mask
used (white = filled), grid.png (masked | result | original), results.csv and, for the
classifier method, grad_norm.png (the gradient-norm trace of paper 003, Figure 6) or, for the
semantic methods, losses.png (paper 000, Figure 3) to --output_dir (default out/inpaint).

  python -m bin.inpaint --input=photo.png --mask=file --mask_file=hole.png --method=patchmatch
  python -m bin.inpaint --model_dir=exported/digits_lenet --label=-1 --mask=left
"""

from bin import cli  # first: quiets TensorFlow before it is imported
from bin import flags as cli_flags

import csv
import io
import os

from absl import flags
import numpy as np

from tfinpaint.errors import InputError

FLAGS = flags.FLAGS
for _name in cli_flags.KEY_FLAGS["inpaint"]:  # shown by --help
  flags.declare_key_flag(_name)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pbm", ".bmp", ".tif", ".tiff",
                    ".gif", ".webp")
DEFAULT_BATCH = 50
MAX_PLOTTED = 10  # lines in grad_norm.png


# ----------------------------------------------------------------------------- inputs


def _expand(spec, what):
  """"a.png,b.png" or a folder -> list of existing file paths (folders sorted by name)."""
  paths = []
  for item in (p.strip() for p in spec.split(",")):
    if not item:
      continue
    item = os.path.expanduser(item)
    if os.path.isdir(item):
      found = sorted(os.path.join(item, f) for f in os.listdir(item)
                     if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
      if not found:
        raise InputError(f"no image files in {what} folder {item}")
      paths += found
    elif os.path.isfile(item):
      paths.append(item)
    else:
      raise InputError(f"no such {what} file or folder: {item}")
  if not paths:
    raise InputError(f"--{what} names no file")
  return paths


def _names(paths):
  """File stems, made unique (a/x.png, b/x.png -> x, x_2)."""
  seen, names = {}, []
  for p in paths:
    stem = os.path.splitext(os.path.basename(p))[0]
    seen[stem] = seen.get(stem, 0) + 1
    names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
  return names


def _image_size(path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as img:
      return img.size[1], img.size[0]
  except FileNotFoundError:
    raise InputError(f"no such file: {path}") from None
  except OSError as e:
    raise InputError(f"cannot read image {path}: {e}") from None


def _read_inputs(shape):
  """--input (or the shipped samples) -> (list of [H,W,C] [-1,1], labels or None, names, paths)."""
  from tfinpaint import images  # pylint: disable=g-import-not-at-top
  if FLAGS.input is None:
    pixels, labels = cli.sample_digits(shape, "--input")
    names = [f"digit_{i:02d}_label{int(l)}" for i, l in enumerate(labels)]
    return list(pixels), labels, names, [None] * len(pixels)
  paths = _expand(FLAGS.input, "input")[:FLAGS.num_images or None]
  if shape is not None:
    size, channels = tuple(shape[:2]), shape[2]
  else:
    size = None if FLAGS.image_size is None else (FLAGS.image_size, FLAGS.image_size)
    channels = FLAGS.channels
  pixels = [images.to_signed(images.read_image(p, channels=channels, size=size)) for p in paths]
  return pixels, None, _names(paths), paths


def _masks(pixels, paths):
  """One [H, W, 1] mask (1 = known) per image, from --mask / --mask_file(s) / illumination."""
  from tfinpaint import masks  # pylint: disable=g-import-not-at-top
  n = len(pixels)
  if FLAGS.illumination_threshold is not None:
    from tfinpaint.inpainting import classifier_guided  # pylint: disable=g-import-not-at-top
    return [np.asarray(classifier_guided.illumination_mask(p[None], FLAGS.illumination_threshold)
                       )[0] for p in pixels], "illumination"
  if FLAGS.mask_file or FLAGS.mask_files or FLAGS.mask == "file":
    if FLAGS.mask_file and FLAGS.mask_files:
      raise InputError("pass either --mask_file or --mask_files, not both")
    if FLAGS.mask_file:
      files = _expand(FLAGS.mask_file, "mask_file")
      if len(files) != 1:
        raise InputError("--mask_file takes one file; use --mask_files for one per image")
      files = files * n
    elif FLAGS.mask_files:
      files = _expand(",".join(FLAGS.mask_files), "mask_files")
      if len(files) != n:
        raise InputError(f"--mask_files gives {len(files)} masks for {n} input images")
    else:
      raise InputError("--mask=file needs --mask_file or --mask_files (white = fill)")
    out = []
    for pix, path, mask_path in zip(pixels, paths, files):
      want = _image_size(path) if path else pix.shape[:2]
      got = _image_size(mask_path)
      if got != want:
        raise InputError(f"mask {mask_path} is {got[1]}x{got[0]} but image "
                         f"{path or 'sample'} is {want[1]}x{want[0]} (width x height)")
      out.append(masks.read_mask_file(mask_path, pix.shape[0], pix.shape[1]))
    return out, None
  by_shape = {}
  out = [None] * n
  for i, p in enumerate(pixels):
    h, w = p.shape[:2]
    if (h, w) not in by_shape:
      by_shape[(h, w)] = masks.make(FLAGS.mask, n, h, w, seed=FLAGS.seed, ratio=FLAGS.mask_ratio)
    out[i] = by_shape[(h, w)][i]
  return out, FLAGS.mask


# ----------------------------------------------------------------------------- method


def _resolve_method(exports):
  """(method name, exports to use); auto picks the best available method."""
  from tfinpaint import methods  # pylint: disable=g-import-not-at-top
  name = FLAGS.method
  if name == "auto":
    if exports:
      e = exports[0]
      return ("classifier" if e.kind == methods.CLASSIFIER_KIND
              else getattr(e.inpainter, "preset", "full")), exports
    shipped = cli.find_shipped(cli.SHIPPED_DIGITS) if FLAGS.input is None else None
    if shipped:
      return "classifier", cli.load_exports([shipped], FLAGS.iterations)
    available = methods.available_baselines()
    if not available:
      raise InputError("no method available: install the baselines extra "
                       "(pip install \"tfinpaint[baselines]\") or pass --model_dir")
    return ("patchmatch" if "patchmatch" in available else available[0]), exports
  if name in methods.CLASSIFIER_METHODS and not exports:
    shipped = cli.find_shipped(cli.SHIPPED_DIGITS)
    if shipped is None:
      raise InputError(f"--method={name} needs --model_dir (a classifier-guided export); "
                       f"the shipped exported/{cli.SHIPPED_DIGITS} was not found")
    exports = cli.load_exports([shipped], FLAGS.iterations)
  return name, exports


def _by_shape(pixels):
  """{image shape: [indices]}, in first-seen order: images of one shape batch together."""
  groups = {}
  for i, p in enumerate(pixels):
    groups.setdefault(p.shape, []).append(i)
  return groups


def _run(fn, pixels, mask_list, labels, mask_name, batch_size):
  """Runs `fn` on groups of equal-shape images; returns per-image dicts of numpy arrays."""
  results = [None] * len(pixels)
  for idx in _by_shape(pixels).values():
    for start in range(0, len(idx), batch_size):
      chunk = idx[start:start + batch_size]
      x = np.stack([pixels[i] for i in chunk]).astype(np.float32)
      m = np.stack([mask_list[i] for i in chunk]).astype(np.float32)
      lab = None if labels is None else np.asarray([labels[i] for i in chunk], np.int32)
      out = fn(x, m, lab, mask_name)
      for j, i in enumerate(chunk):
        results[i] = {k: ({kk: vv[j] for kk, vv in v.items()} if isinstance(v, dict) else v[j])
                      for k, v in out.items()}
  return results


# ----------------------------------------------------------------------------- outputs


def _csv(rows):
  buf = io.StringIO()
  fields = list(dict.fromkeys(k for r in rows for k in r))
  writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
  writer.writeheader()
  writer.writerows(rows)
  return buf.getvalue()


def _write(stage, method, names, paths, pixels, mask_list, results, labels, mask_name):
  """Writes every output into the staging dir; returns (file names, table rows)."""
  # pylint: disable-next=g-import-not-at-top
  from tfinpaint import evaluation, images, masks, metrics, plots
  written, rows = [], []
  known_truth = mask_name not in (None, "illumination")
  for i, name in enumerate(names):
    res = results[i]
    images.write_png(os.path.join(stage, f"{name}.png"), images.to_unit(res["inpainted"]))
    masks.write_mask_file(os.path.join(stage, f"{name}_mask.png"), mask_list[i])
    row = {"name": name, "input": paths[i] or "shipped sample", "method": method}
    if labels is not None:
      row["true_label"] = int(labels[i])
    if "label" in res:
      row["label"] = int(res["label"])
    for key in ("energy", "loss"):
      if key in res:
        row[key] = f"{float(res[key]):.6g}"
    if "iterations" in res:
      row["iterations"] = int(res["iterations"])
    if known_truth and min(pixels[i].shape[:2]) >= 11:
      a, b, hole = res["inpainted"][None], pixels[i][None], 1.0 - mask_list[i][None]
      row.update(psnr=f"{float(metrics.psnr(a, b)[0]):.3f}",
                 ssim=f"{float(metrics.ssim(a, b)[0]):.4f}",
                 psnr_hole=f"{float(metrics.psnr(a, b, hole)[0]):.3f}")
    rows.append(row)
  written += [f"{n}.png" for n in names] + [f"{n}_mask.png" for n in names]

  # Grids: one per image shape (all inputs usually share one).
  groups = _by_shape(pixels)
  for k, (shape, idx) in enumerate(groups.items()):
    masked = np.stack([evaluation.masked_input(pixels[i], mask_list[i]) for i in idx])
    result = np.stack([results[i]["inpainted"] for i in idx])
    original = np.stack([pixels[i] for i in idx])
    scale = FLAGS.grid_scale or evaluation.auto_scale(max(shape[:2]))
    grid = evaluation.comparison_grid(
        {evaluation.MASKED: masked, method: result, "original": original}, scale=scale)
    file_name = "grid.png" if len(groups) == 1 else f"grid_{k + 1}_{shape[0]}x{shape[1]}.png"
    images.write_png(os.path.join(stage, file_name), grid)
    written.append(file_name)

  if "grad_norm_trace" in results[0]:
    traces = [results[i]["grad_norm_trace"] for i in range(len(names))][:MAX_PLOTTED]
    legend = [f"{names[i]}" + (f" -> {rows[i]['label']}" if "label" in rows[i] else "")
              for i in range(len(traces))]
    chart = plots.line_chart(np.stack(traces), labels=legend, log_y=True,
                             title="classifier method: gradient norm per iteration "
                                   "(paper 003, Figure 6)",
                             xlabel="iteration", ylabel="||grad E||")
    images.write_png(os.path.join(stage, "grad_norm.png"), chart)
    written.append("grad_norm.png")
  if "losses" in results[0]:
    terms = sorted(results[0]["losses"])
    mean = [np.mean(np.stack([results[i]["losses"][t] for i in range(len(names))]), axis=0)
            for t in terms]
    positive = all((m[np.isfinite(m)] > 0).all() for m in mean)  # log(1 - D) terms are < 0
    chart = plots.line_chart(mean, labels=terms, log_y=positive,
                             title=f"{method}: weighted loss terms, mean over images "
                                   "(paper 000, Figure 3)",
                             xlabel="iteration", ylabel="lambda * L")
    images.write_png(os.path.join(stage, "losses.png"), chart)
    written.append("losses.png")
  images.write_text(os.path.join(stage, "results.csv"), _csv(rows))
  written.append("results.csv")
  return written, rows


def main(argv):
  del argv
  from tfinpaint import methods  # pylint: disable=g-import-not-at-top
  exports = cli.load_exports(FLAGS.model_dir or [], FLAGS.iterations)
  method, exports = _resolve_method(exports)
  learned = method in methods.LEARNED
  shape = None
  if learned:
    provider = next((e for e in exports if method in e.methods), None)
    if provider is None:
      raise InputError(f"--method={method} is not provided by {', '.join(FLAGS.model_dir)}")
    shape = provider.image_shape
  pixels, labels, names, paths = _read_inputs(shape)
  mask_list, mask_name = _masks(pixels, paths)

  weights = cli_flags.weight_overrides() or None
  fn = methods.make(method, exports, iterations=FLAGS.iterations, seed=FLAGS.seed,
                    label=FLAGS.label, true_labels=FLAGS.true_labels, weights=weights)
  source = "shipped sample digits" if FLAGS.input is None else FLAGS.input
  where = f" ({exports[0].path})" if learned else ""
  print(f"inpainting {len(pixels)} image(s) from {source} with {method}{where}, "
        f"mask {mask_name or 'from file'}", flush=True)
  results = _run(fn, pixels, mask_list, labels, mask_name,
                 cli.flag_or_default("batch_size", DEFAULT_BATCH))
  for r in results:
    if not np.isfinite(r["inpainted"]).all():
      raise InputError(f"{method} produced NaN/inf; check the inputs and hyper-parameters")

  output_dir = FLAGS.output_dir or os.path.join("out", "inpaint")
  with cli.staged_output(output_dir) as stage:
    written, rows = _write(stage, method, names, paths, pixels, mask_list, results, labels,
                           mask_name)
  for row in rows[:20]:
    shown = "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("input", "method"))
    print(f"  {shown}")
  if len(rows) > 20:
    print(f"  ... ({len(rows) - 20} more in results.csv)")
  extras = [w for w in written if not w.endswith("_mask.png") and w not in
            {f"{n}.png" for n in names}]
  print(f"wrote {len(names)} result(s) (+ masks, white = filled) and {', '.join(extras)} "
        f"to {output_dir}")


if __name__ == "__main__":
  cli.run(main)
