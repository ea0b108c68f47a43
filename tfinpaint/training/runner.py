"""bin.train's library: an experiment's network, trained by its trainer, in its workdir; and the
trained networks of a workdir back (what bin.export assembles the inpainter from).

The experiment's sections decide everything (tfinpaint.experiment): `network` builds the Keras
models (models/), `train` runs its trainer (training/classifier.py, training/gan.py, or a
method's own) on the `data`, under the strategy of `runtime`. The resolved experiment is saved
as <workdir>/config.json when training starts, and `restore` rebuilds exactly that network from
it, so a checkpoint always finds the variables it was saved from.
"""

import os

from tfinpaint import experiment as experiment_lib
from tfinpaint.errors import InputError
from tfinpaint.inpainting.base import Trained
from tfinpaint.training import checkpoints, loop
from tfinpaint.training import strategy as strategy_lib


def _check(e):
  """Refuses what cannot train before anything is written."""
  if e.network is None or e.train is None:
    raise InputError(f"experiment {e.name} trains nothing (it has no network and train "
                     "sections); bin.train takes a training experiment")
  if not e.train.workdir:
    raise InputError("the experiment names no workdir: set --config.train.workdir")
  checkpoints.check_workdir(e.train.workdir)
  workdir = os.path.expanduser(e.train.workdir)
  if (checkpoints.has_checkpoints(workdir) and
      os.path.isfile(os.path.join(workdir, experiment_lib.WORKDIR_CONFIG))):
    saved, _, _ = experiment_lib.from_workdir(workdir)
    if (saved.network, saved.data.image_shape) != (e.network, e.data.image_shape):
      raise InputError(f"{e.train.workdir} was trained with network {saved.network} on "
                       f"{saved.data.image_shape} images; this experiment asks for {e.network} "
                       f"on {e.data.image_shape}: use another workdir")


def train(experiment, log=loop.echo):
  """Runs one training; returns the trainer's final metrics (see classifier.train, gan.train).

  The devices are set up first, before any TensorFlow op runs: GPU memory growth, the logical
  CPUs of the mirrored strategy and MultiWorkerMirroredStrategy all have to be configured
  before the runtime starts. Under mixed precision the global Keras policy is mixed_float16 for
  the run and put back afterwards.
  """
  import keras  # pylint: disable=g-import-not-at-top
  e = experiment
  _check(e)
  policy = keras.mixed_precision.global_policy()
  strategy_lib.configure_gpus(e.runtime, log=log)
  try:
    strategy = strategy_lib.make_strategy(e.runtime)
    replicas = strategy.num_replicas_in_sync
    if e.train.batch_size % replicas:
      raise InputError(f"--config.train.batch_size {e.train.batch_size} must be a multiple of "
                       f"the {replicas} replicas")
    _, info = e.data.load(e.data.train_split)
    shape = e.data.image_shape
    log(f"training {e.network.KIND} ({e.name}) on {e.data.dataset} ({e.data.train_split} "
        f"split, {info.num_classes} classes, {'x'.join(map(str, shape))}) with {replicas} "
        f"replica(s) -> {e.train.workdir}")
    keras.utils.set_random_seed(e.train.seed)  # reproducible initial weights
    with strategy.scope():
      networks = e.network.build(shape, info.num_classes)
      e.network.initialise(networks, log=log)
    if strategy_lib.is_chief(strategy):  # only the chief writes into the (shared) workdir
      os.makedirs(os.path.expanduser(e.train.workdir), exist_ok=True)
      experiment_lib.save_to_workdir(e, e.train.workdir, info)
    return e.train.run(networks, e.data, strategy, log=log)
  finally:
    keras.mixed_precision.set_global_policy(policy)


def restore(workdir, log=print):
  """The trained networks of a bin.train workdir, rebuilt from its config.json: a Trained."""
  e, num_classes, class_names = experiment_lib.from_workdir(workdir)
  networks = e.network.build(e.data.image_shape, num_classes)
  step = checkpoints.restore(os.path.expanduser(workdir), networks)
  if step == 0:
    raise InputError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')}; train first "
                     "(python -m bin.train --flagfile=...)")
  log(f"restored {e.network.KIND} of {workdir} at step {step}")
  return Trained(networks=networks, experiment=e, num_classes=num_classes,
                 class_names=tuple(class_names), step=step)
