r"""Trained networks -> servable model: python -m bin.export --flagfile=configs/<experiment>.flags

The experiment's request section names the method and the default of every option; the
networks come from its training workdir (their architecture from the workdir's config.json)
and the workdirs its export section names for the method's other roles, or from a networks/
folder (--config.export.from_networks=exported/<name>). Writes

  <export_dir>/<version>/   the SavedModel TF Serving loads and every bin command runs
  <export_dir>/networks/    the Keras networks, for re-export and fine-tuning
  <export_dir>/MODEL_CARD.md  (generated when absent)

An experiment that trains the judge writes it to <export_dir>/judge/. Nothing is replaced
without --config.export.overwrite=true.

  python -m bin.export --flagfile=configs/digits_lenet.flags --config.export.export_dir=exported/my_digits
"""

import os

from bin import cli  # first: quiets TensorFlow before it is imported


def main(args):
  from tfinpaint import release  # pylint: disable=g-import-not-at-top
  written = release.export_model(args.config, log=lambda line: print(line, flush=True))
  for what, path in written.items():
    print(f"wrote {what}: {path}")
  if "version" in written:
    base = os.path.abspath(args.config.export.export_dir)
    print(f"serve: tensorflow_model_server --rest_api_port=8501 --model_name="
          f"{os.path.basename(base)} --model_base_path={base}")


if __name__ == "__main__":
  cli.run(main, "export")
