"""Paper 003, faces: Cropped Extended Yale B (one sub-folder per person, PGM files; set the path),
LeNet patch-trained with the face variant (dark patches replaced by the whole image), jitter and
TV restricted to a band around the hole. Illumination mode:

  python -m bin.train --flagfile=configs/yaleb_lenet.flags
  python -m bin.export --flagfile=configs/yaleb_lenet.flags
  python -m bin.inpaint --flagfile=configs/yaleb_lenet.flags --input=face.pgm --illumination_threshold=0.15
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
      name="yaleb_lenet",
      data=DataConfig(dataset="folder:data/CroppedYale", image_size=64, channels=1),
      network=LeNetConfig(width=2.0),
      train=ClassifierTraining(
          workdir="workdirs/yaleb_lenet", num_steps=15000, batch_size=64, learning_rate=1e-3,
          lr_boundaries=(10000,), lr_values=(1e-3, 1e-4), patch_training=True,
          face_patches=True, patch_repeats=5, patch_min=12, patch_max=40, log_every=500,
          checkpoint_every=2000),
      export=ExportConfig(export_dir="exported/yaleb_lenet"),
      # Paper 003's advice for faces (Section 4.2): TV on a band around the hole, jitter; not
      # tuned here (no Yale B on the development machine).
      request=ClassifierConfig(iterations=1000, max_iterations=3000, step_size=1.0,
                               lambda_tv=0.01, tv_band=3, epsilon=1e-4, init="diffusion",
                               jitter=2, binary_weight=0.0),
      evaluate=EvaluateConfig(num_images=100, masks=("center", "left", "random")),
  )
