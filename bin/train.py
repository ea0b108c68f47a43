r"""Trains a network of the package: python -m bin.train --flagfile=configs/<experiment>.flags

--model=lenet|googlenet -> tfinpaint.training.classifier.train (patch training, paper 003 /
GoogLeNet with auxiliary heads, paper 000); --model=dcgan -> tfinpaint.training.gan.train.
Networks are built inside the --strategy scope; --workdir holds checkpoints and TensorBoard
summaries, and a run restarted with the same --workdir resumes. The flags of the run are saved
as <workdir>/flags.txt so that the workdir documents how it was made.
"""

from bin import cli  # first: quiets TensorFlow before it is imported
from bin import flags as cli_flags  # defines every flag

import os

from absl import flags

from tfinpaint.errors import InputError

FLAGS = flags.FLAGS
for _name in cli_flags.KEY_FLAGS["train"]:  # shown by --help
  flags.declare_key_flag(_name)


def _save_flags(workdir):
  from tfinpaint import images  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  ours = FLAGS.get_flags_for_module("bin.flags")
  text = "# flags of the bin.train run that wrote this workdir (usable as --flagfile)\n"
  text += "".join(f"{f.serialize()}\n" for f in sorted(ours, key=lambda f: f.name)
                  if not f.using_default_value)
  images.write_text(os.path.join(workdir, "flags.txt"), text)


def main(argv):
  del argv
  model = cli.require("model", "(lenet, dcgan or googlenet)")
  workdir = cli.require("workdir", "(checkpoints and summaries go there)")
  size, channels = cli.model_setting("image_size"), cli.model_setting("channels")
  num_steps = cli.model_setting("num_steps")
  batch_size = cli.flag_or_default("batch_size", cli.DEFAULT_BATCH_SIZE)
  learning_rate = cli.model_setting("learning_rate")
  if FLAGS.lr_values and len(FLAGS.lr_values) != len(FLAGS.lr_boundaries) + 1:
    raise InputError(f"--lr_values needs {len(FLAGS.lr_boundaries) + 1} values for "
                     f"{len(FLAGS.lr_boundaries)} --lr_boundaries")

  from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
  train_ds, info = cli.load_split("train", size, channels, flip=FLAGS.flip)
  strategy = loop.make_strategy(FLAGS.strategy)
  print(f"training {model} on {FLAGS.dataset} ({info.num_classes} classes, {size}x{size}x"
        f"{channels}) with {strategy.num_replicas_in_sync} replica(s) -> {workdir}", flush=True)
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(FLAGS.seed)  # reproducible initial weights
  with strategy.scope():
    nets = cli.build_network(model, (size, size, channels), info.num_classes)
    if model == "googlenet" and FLAGS.googlenet_npy:
      from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
      loaded = googlenet.load_caffe_npy(nets["model"], FLAGS.googlenet_npy,
                                        freeze=tuple(FLAGS.freeze))
      print(f"initialised {len(loaded['loaded'])} layers from {FLAGS.googlenet_npy}")
  _save_flags(workdir)

  common = dict(workdir=workdir, strategy=strategy, num_steps=num_steps, batch_size=batch_size,
                learning_rate=learning_rate, log_every=FLAGS.log_every,
                checkpoint_every=FLAGS.checkpoint_every, seed=FLAGS.seed)
  if model in ("lenet", "googlenet"):
    from tfinpaint.training import classifier  # pylint: disable=g-import-not-at-top
    test_ds, _ = cli.load_split("test", size, channels)
    metrics = classifier.train(
        nets["model"], train_ds, test_ds, lr_boundaries=tuple(FLAGS.lr_boundaries),
        lr_values=FLAGS.lr_values or None, patch_training=FLAGS.patch_training,
        patch_repeats=FLAGS.patch_repeats, patch_min=FLAGS.patch_min, patch_max=FLAGS.patch_max,
        face_patches=FLAGS.face_patches, aux_weight=FLAGS.aux_weight, **common)
  else:
    from tfinpaint.training import gan  # pylint: disable=g-import-not-at-top
    metrics = gan.train(nets["generator"], nets["discriminator"], train_ds, beta1=FLAGS.beta1,
                        z_dim=FLAGS.z_dim, sample_every=FLAGS.sample_every, **common)
  shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in metrics.items())
  print(f"done: {shown}")
  print(f"checkpoints: {os.path.join(workdir, 'checkpoints')}  "
        f"(tensorboard --logdir={os.path.join(workdir, 'summaries')})")


if __name__ == "__main__":
  cli.run(main)
