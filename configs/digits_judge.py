"""The independent judge of exported/digits_lenet (bin.evaluate reads <model_dir>/judge): an MLP,
not a CNN like the LeNet the fills are optimised against, trained on whole digits of the fit
split (train minus the validation carve, which stays unseen for tuning) with its own seed.

  python -m bin.train --flagfile=configs/digits_judge.flags
  python -m bin.export --flagfile=configs/digits_judge.flags --config.export.export_dir=exported/my_digits_lenet
"""

from tfinpaint.data import DataConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.judge import JudgeConfig
from tfinpaint.training.classifier import ClassifierTraining


def get_config():
  return Experiment(
      name="digits_judge",
      data=DataConfig(dataset="sheet:/usr/share/doc/opencv-doc/examples/data/digits.png",
                      image_size=28, channels=1, train_split="fit"),
      network=JudgeConfig(dropout=0.3),
      train=ClassifierTraining(
          workdir="workdirs/digits_judge", seed=1, num_steps=4000, batch_size=64,
          learning_rate=1e-3, lr_boundaries=(3000,), lr_values=(1e-3, 1e-4),
          patch_training=False, log_every=500, checkpoint_every=1000),
      export=ExportConfig(export_dir="exported/digits_lenet"),
  )
