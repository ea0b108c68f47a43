"""CPU-sized stand-in for the cars GoogLeNet: Fashion-MNIST from the local idx files, 32x32 grey, a
quarter-width GoogLeNet; the paper's schedule (1e-3, then 1e-4 and 1e-5 at 35/60 and 50/60 of
training). Its workdir is the classifier of configs/fashion_dcgan.py's export.

  python -m bin.train --flagfile=configs/fashion_googlenet.flags
"""

from tfinpaint.data import DataConfig
from tfinpaint.experiment import Experiment
from tfinpaint.models.googlenet import GoogLeNetConfig
from tfinpaint.training.classifier import ClassifierTraining


def get_config():
  return Experiment(
      name="fashion_googlenet",
      data=DataConfig(dataset="idx:/usr/share/datasets/fashion-mnist", image_size=32,
                      channels=1, flip=True),
      network=GoogLeNetConfig(width=0.25, dropout=0.3),
      train=ClassifierTraining(
          workdir="workdirs/fashion_googlenet", num_steps=5000, batch_size=32,
          learning_rate=1e-3, lr_boundaries=(2917, 4167), lr_values=(1e-3, 1e-4, 1e-5),
          aux_weight=0.3, patch_training=False, log_every=100, checkpoint_every=500),
  )
