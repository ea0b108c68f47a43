"""Paper 000: the GoogLeNet (first two max-pools removed, two auxiliary heads) whose inception-3b/4b
activations and logits drive the semantic and categorical losses. Stanford Cars via tfds:cars196
cropped to the bounding boxes, 64x64 RGB; the archives must be downloaded by hand into the
manual_dir. Optionally start from Caffe ImageNet weights:
--config.network.caffe_npy=googlenet.npy

  python -m bin.train --flagfile=configs/cars_googlenet.flags
"""

from tfinpaint.data import DataConfig
from tfinpaint.experiment import Experiment
from tfinpaint.models.googlenet import GoogLeNetConfig
from tfinpaint.training.classifier import ClassifierTraining


def get_config():
  return Experiment(
      name="cars_googlenet",
      data=DataConfig(dataset="tfds:cars196", manual_dir="~/tensorflow_datasets/downloads/manual",
                      image_size=64, channels=3, flip=True),
      network=GoogLeNetConfig(width=1.0, dropout=0.3),
      train=ClassifierTraining(
          workdir="workdirs/cars_googlenet", num_steps=30000, batch_size=64, learning_rate=1e-3,
          lr_boundaries=(20000, 26000), lr_values=(1e-3, 1e-4, 1e-5), aux_weight=0.3,
          patch_training=False, log_every=200, checkpoint_every=2000),
  )
