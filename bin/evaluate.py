r"""The papers' quality table on any dataset: python -m bin.evaluate --dataset=... [--model_dir=...]

N test images (--num_images of the --dataset test split; the shipped sample digits without
--dataset) x named masks (--masks) x methods (--methods: the classical baselines plus every
method the exports in --model_dir provide) -> PSNR and SSIM, whole image as Table 1 of paper 000
and over the hole only; with a classifier export also label accuracy (paper 003). Writes
results.md, results.csv, per_image.csv and one example grid per mask to --output_dir, then
prints the tables.

  python -m bin.evaluate --dataset=idx:/usr/share/datasets/fashion-mnist --num_images=100
"""

from bin import cli  # first: quiets TensorFlow before it is imported
from bin import flags as cli_flags

import os

from absl import flags

from tfinpaint.errors import InputError

FLAGS = flags.FLAGS
for _name in cli_flags.KEY_FLAGS["evaluate"]:  # shown by --help
  flags.declare_key_flag(_name)
DEFAULT_NUM_IMAGES = 100
DEFAULT_BATCH = 50


def _shape(exports):
  """(image_size, channels) from the exports, checked against the flags."""
  shapes = {e.image_shape for e in exports}
  if len(shapes) > 1:
    raise InputError(f"--model_dir exports take different image shapes: {sorted(shapes)}")
  if shapes:
    h, w, c = shapes.pop()
    if h != w:
      raise InputError(f"exports for non-square images ({h}x{w}) are not supported here")
    for name, want in (("image_size", h), ("channels", c)):
      if FLAGS[name].value not in (None, want):
        raise InputError(f"--{name}={FLAGS[name].value} but the exported model takes {want}")
    return h, c
  return cli.flag_or_default("image_size", 28), cli.flag_or_default("channels", 1)


def _load_images(size, channels):
  from tfinpaint import evaluation  # pylint: disable=g-import-not-at-top
  if FLAGS.dataset is None:
    images, labels = cli.sample_digits((size, size, channels), "--dataset")
    return images, labels, "shipped sample digits"
  ds, _ = cli.load_split("test", size, channels)
  images, labels = evaluation.take(ds, cli.flag_or_default("num_images", DEFAULT_NUM_IMAGES))
  return images, labels, f"{FLAGS.dataset} (test split)"


def main(argv):
  del argv
  from tfinpaint import masks, methods  # pylint: disable=g-import-not-at-top
  bad = [m for m in FLAGS.masks if m not in masks.NAMES]
  if bad or not FLAGS.masks:
    raise InputError(f"--masks must name masks from {', '.join(masks.NAMES)}, got "
                     f"{','.join(FLAGS.masks) or 'nothing'}")
  requested = FLAGS.methods
  if requested:
    unknown = [m for m in requested if m not in methods.NAMES]
    if unknown:
      raise InputError(f"unknown method(s) {', '.join(unknown)}; expected "
                       f"{', '.join(methods.NAMES)}")
  model_dirs = FLAGS.model_dir or []
  wants_classifier = any(m in methods.CLASSIFIER_METHODS for m in requested or ())
  if not model_dirs and (FLAGS.dataset is None or wants_classifier):
    # Like bin.inpaint: the shipped digits model joins the digits samples by default.
    shipped = cli.find_shipped(cli.SHIPPED_DIGITS)
    model_dirs = [shipped] if shipped else []
  exports = cli.load_exports(model_dirs, FLAGS.iterations)
  if not requested:
    requested = methods.available_baselines() + [m for e in exports for m in e.methods]
    if not requested:
      raise InputError("no method available: install the baselines extra or pass --model_dir")
  size, channels = _shape(exports)
  images, labels, source = _load_images(size, channels)
  from tfinpaint import evaluation  # pylint: disable=g-import-not-at-top

  weights = cli_flags.weight_overrides() or None
  fns = {name: methods.make(name, exports, iterations=FLAGS.iterations, seed=FLAGS.seed,
                            label=FLAGS.label, true_labels=FLAGS.true_labels, weights=weights)
         for name in dict.fromkeys(requested)}
  # Label accuracy: prefer the patch-trained classifier of paper 003, else a GoogLeNet.
  judge = next((e for e in exports if e.kind == methods.CLASSIFIER_KIND),
               next((e for e in exports if e.has_classifier), None))
  print(f"evaluating {', '.join(fns)} on {len(images)} images of {source}, masks "
        f"{', '.join(FLAGS.masks)}", flush=True)
  report = evaluation.evaluate(
      fns, images, labels, FLAGS.masks, seed=FLAGS.seed, ratio=FLAGS.mask_ratio,
      batch_size=cli.flag_or_default("batch_size", DEFAULT_BATCH),
      classifier=judge.logits if judge else None, num_examples=FLAGS.grid_images,
      log=lambda line: print(line, flush=True))
  report.notes += [f"data: {source}", f"mask seed {FLAGS.seed}, random-mask ratio "
                   f"{FLAGS.mask_ratio}"]
  report.notes += [f"model: {e.path} ({e.kind})" for e in exports]
  if judge:
    report.notes.append(f"label accuracy judged by the classifier of {judge.path}; classifier "
                        f"method labels: {'true labels' if FLAGS.true_labels else FLAGS.label}")
  output_dir = FLAGS.output_dir or os.path.join("out", "evaluate")
  scale = FLAGS.grid_scale or evaluation.auto_scale(size)
  with cli.staged_output(output_dir) as stage:
    written = evaluation.write_report(stage, report, title=f"Inpainting quality: {source}",
                                      grid_scale=scale)
  print()
  print(evaluation.markdown_report(report, title=f"Inpainting quality: {source}"))
  print(f"wrote {', '.join(os.path.basename(p) for p in written)} to {output_dir}")


if __name__ == "__main__":
  cli.run(main)
