"""Paper 003 at paper scale: LeNet-5 patch-trained on MNIST (tfds:mnist must already be prepared in
the data_dir; tfinpaint never downloads at run time).

  python -m bin.train --flagfile=configs/mnist_lenet.flags
  python -m bin.export --flagfile=configs/mnist_lenet.flags
"""

from tfinpaint.data import DataConfig
from tfinpaint.evaluation import EvaluateConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.inpainting.classifier_guided import ClassifierConfig
from tfinpaint.models.lenet import LeNetConfig
from tfinpaint.training.classifier import ClassifierTraining


def get_config():
  return Experiment(
      name="mnist_lenet",
      data=DataConfig(dataset="tfds:mnist", image_size=28, channels=1),
      network=LeNetConfig(width=1.0),
      train=ClassifierTraining(
          workdir="workdirs/mnist_lenet", num_steps=20000, batch_size=128, learning_rate=1e-3,
          lr_boundaries=(15000,), lr_values=(1e-3, 1e-4), patch_training=True, patch_repeats=5,
          patch_min=7, patch_max=20, log_every=500, checkpoint_every=2000),
      export=ExportConfig(export_dir="exported/mnist_lenet"),
      request=ClassifierConfig(iterations=500, max_iterations=2000, step_size=1.0,
                               lambda_tv=0.002, epsilon=1e-3, init="diffusion", jitter=0,
                               binary_weight=0.001),
      evaluate=EvaluateConfig(num_images=100, masks=("center", "left", "random")),
  )
