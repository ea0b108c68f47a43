r"""Inpaints images with an exported model: python -m bin.inpaint [--input=...] [--model_dir=...]

With no flags: both shipped models on their real held-out samples (digits: classifier-guided,
paper 003; Fashion-MNIST items: semantic, paper 000), side by side in out/inpaint/grid.png.
Runs the SavedModel itself (exported/<name>/<latest version>), exactly what TF Serving serves.
Writes per image the result (and an upscaled copy), the mask (white = filled), grid.png,
results.csv and the optimisation traces (grad_norm.png, losses.png). With --flagfile (or
--config) the model is the experiment's export.

  python -m bin.inpaint --input=photo.png --mask=file --mask_file=hole.png --method=patchmatch
  python -m bin.inpaint --model_dir=exported/digits_lenet --label=-1 --mask=left
"""

from bin import cli  # first: quiets TensorFlow before it is imported


def main(args):
  from tfinpaint import inpaint  # pylint: disable=g-import-not-at-top
  settings = inpaint.with_experiment(args.get(inpaint.Settings), args.config)
  output_dir, written, rows = inpaint.run(settings, args.options,
                                          log=lambda line: print(line, flush=True))
  for row in rows[:20]:
    print("  " + "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("input", "method")))
  if len(rows) > 20:
    print(f"  ... ({len(rows) - 20} more in results.csv)")
  if any("loss" in row for row in rows):
    print("  (loss is the preset's weighted objective; its GAN terms log(1 - D) are negative, "
          "so it can be below 0)")
  print(f"wrote {len(rows)} result(s) to {output_dir}: {inpaint.INPAINTED}/, {inpaint.LARGE_DIR}/ "
        f"(upscaled) and {inpaint.MASKS}/ (white = filled) by image name, and "
        f"{', '.join(written)}")


if __name__ == "__main__":
  cli.run(main, "inpaint")
