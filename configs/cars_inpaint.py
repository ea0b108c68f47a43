"""Table 1 of paper 000 at paper scale: 100 Stanford Cars test images drawn stratified by class,
center / left / random masks, PatchMatch (image-melding stand-in) vs Yeh / semantic (w/o logits) /
full (with logits), the exported 1,500 iterations and the paper's loss weights (the x10 rule for
random masks in the graph). Needs exported/cars_semantic (configs/cars_dcgan.py).

  python -m bin.evaluate --flagfile=configs/cars_inpaint.flags
  python -m bin.inpaint --flagfile=configs/cars_inpaint.flags --input=car.jpg --method=full
"""

from tfinpaint.data import DataConfig
from tfinpaint.evaluation import EvaluateConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig


def get_config():
  return Experiment(
      name="cars_inpaint",
      data=DataConfig(dataset="tfds:cars196", manual_dir="~/tensorflow_datasets/downloads/manual",
                      image_size=64, channels=3),
      export=ExportConfig(export_dir="exported/cars_semantic"),
      evaluate=EvaluateConfig(methods=("patchmatch", "yeh", "semantic", "full"),
                              masks=("center", "left", "random"), num_images=100,
                              batch_size=25),
  )
