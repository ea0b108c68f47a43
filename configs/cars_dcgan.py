"""Paper 000: DCGAN on Stanford Cars (cropped to the boxes, 64x64, flipped: 16,288 images), 13,000
steps, batch 64, Adam 2e-4 / beta1 0.5 (the GAN trainer's defaults). Export builds the semantic
inpainter with the GoogLeNet of configs/cars_googlenet.py (train that first), with the paper's
loss weights (SemanticConfig's defaults).

  python -m bin.train --flagfile=configs/cars_dcgan.flags
  python -m bin.export --flagfile=configs/cars_dcgan.flags
"""

from tfinpaint.data import DataConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.inpainting.semantic import SemanticConfig
from tfinpaint.models.dcgan import DCGANConfig
from tfinpaint.training.gan import GANTraining


def get_config():
  return Experiment(
      name="cars_dcgan",
      data=DataConfig(dataset="tfds:cars196", manual_dir="~/tensorflow_datasets/downloads/manual",
                      image_size=64, channels=3, flip=True),
      network=DCGANConfig(width=1.0, z_dim=100),
      train=GANTraining(workdir="workdirs/cars_dcgan", sample_every=500, log_every=100,
                        checkpoint_every=1000),
      export=ExportConfig(export_dir="exported/cars_semantic",
                          networks={"classifier": "workdirs/cars_googlenet"}),
      request=SemanticConfig(preset="full", iterations=1500, max_iterations=3000,
                             learning_rate=0.01, momentum=0.9, num_starts=4),
  )
