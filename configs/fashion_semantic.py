"""Table 1 of paper 000 on Fashion-MNIST, offline and CPU-sized: 50 test images drawn stratified by
class (5 per class), the model's 300 iterations and 2 starts, center / left / random masks, the
classical baselines vs Yeh / semantic / full from exported/fashion_semantic
(configs/fashion_dcgan.py), judged by exported/fashion_semantic/judge.

  python -m bin.evaluate --flagfile=configs/fashion_semantic.flags
  python -m bin.inpaint --flagfile=configs/fashion_semantic.flags
"""

from tfinpaint.data import DataConfig
from tfinpaint.evaluation import EvaluateConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig


def get_config():
  return Experiment(
      name="fashion_semantic",
      data=DataConfig(dataset="idx:/usr/share/datasets/fashion-mnist", image_size=32,
                      channels=1),
      export=ExportConfig(export_dir="exported/fashion_semantic"),
      evaluate=EvaluateConfig(
          methods=("telea", "navier_stokes", "patchmatch", "yeh", "semantic", "full"),
          masks=("center", "left", "random"), num_images=50, batch_size=50),
  )
