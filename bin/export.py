r"""Trained networks -> servable model: python -m bin.export --flagfile=configs/<experiment>.flags

From a training --workdir (or --from_networks=exported/<name> to re-export the same weights),
builds the inpainter the network serves (a LeNet/GoogLeNet: classifier-guided, paper 003; a
DCGAN with the GoogLeNet of --classifier_workdir: semantic, paper 000) and writes

  <export_dir>/<version>/   the SavedModel TF Serving loads and every bin command runs
  <export_dir>/networks/    the Keras networks, for re-export and fine-tuning
  <export_dir>/MODEL_CARD.md  (generated when absent)

--model=judge writes the judge to <export_dir>/judge/. Nothing is replaced without --overwrite.

  python -m bin.export --flagfile=configs/digits_lenet.flags --export_dir=exported/my_digits
"""

import os
from bin import cli  # first: quiets TensorFlow before it is imported
from bin import flags as cli_flags


def main(argv):
  del argv
  from tfinpaint import release  # pylint: disable=g-import-not-at-top
  settings = cli_flags.export_settings()
  written = release.export_model(settings, log=lambda line: print(line, flush=True))
  for what, path in written.items():
    print(f"wrote {what}: {path}")
  if "version" in written:
    base = os.path.abspath(settings.export_dir)
    print(f"serve: tensorflow_model_server --rest_api_port=8501 --model_name="
          f"{os.path.basename(base)} --model_base_path={base}")


if __name__ == "__main__":
  cli.run(main, "export")
