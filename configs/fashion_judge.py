"""The independent judge of exported/fashion_semantic (bin.evaluate reads <model_dir>/judge): an
MLP, not a CNN like the DCGAN discriminator and the GoogLeNet the fills are optimised with,
trained on whole Fashion-MNIST items of the fit split (32x32 grey, the model's size) with its
own seed.

  python -m bin.train --flagfile=configs/fashion_judge.flags
  python -m bin.export --flagfile=configs/fashion_judge.flags --config.export.export_dir=exported/my_fashion_semantic
"""

from tfinpaint.data import DataConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.judge import JudgeConfig
from tfinpaint.training.classifier import ClassifierTraining


def get_config():
  return Experiment(
      name="fashion_judge",
      data=DataConfig(dataset="idx:/usr/share/datasets/fashion-mnist", image_size=32,
                      channels=1, train_split="fit"),
      network=JudgeConfig(dropout=0.3),
      train=ClassifierTraining(
          workdir="workdirs/fashion_judge", seed=1, num_steps=12000, batch_size=128,
          learning_rate=1e-3, lr_boundaries=(9000,), lr_values=(1e-3, 1e-4),
          patch_training=False, log_every=1000, checkpoint_every=2000),
      export=ExportConfig(export_dir="exported/fashion_semantic"),
  )
