r"""The papers' quality tables: python -m bin.evaluate --flagfile=configs/<experiment>.flags

N images of the experiment's data (the test split, or validation for tuning) drawn stratified
by class x named masks x methods (the installed baselines plus every method of the exported
models, run through their SavedModels) -> PSNR and SSIM over the whole image (Table 1 of paper
000) and the hole, and, with a judge (an MLP no inpainter uses, <model_dir>/judge), judge
accuracy and the kernel distance (KID) of the fills to real images; per-class breakdowns.
Writes results.md, results.csv, per_image.csv, per_class.csv and one example grid per mask.
Request options (--iterations, ...) go to every learned method that takes them.

  python -m bin.evaluate --flagfile=configs/digits_lenet.flags
  python -m bin.evaluate --config.data.dataset=idx:/usr/share/datasets/fashion-mnist --config.evaluate.methods=telea
"""

from bin import cli  # first: quiets TensorFlow before it is imported


def main(args):
  from tfinpaint import evaluation, reports  # pylint: disable=g-import-not-at-top
  output_dir, written, report = evaluation.run(args.config, args.options,
                                               log=lambda l: print(l, flush=True))
  print()
  print(reports.markdown_report(report, title="Inpainting quality"))
  print(f"wrote {', '.join(p.split('/')[-1] for p in written)} to {output_dir}")


if __name__ == "__main__":
  cli.run(main, "evaluate")
