"""Trimmed experiments on synthetic data, one per network kind: what the CLI tests run through the
real entry points (the flax `train_test.py` pattern), e.g.

  python -m bin.train --config=tests/experiments.py:lenet --config.train.workdir=/tmp/w

Each is small enough to train a few steps in seconds; the workdirs and export folders are
overridden by the tests.
"""

from tfinpaint.data import DataConfig
from tfinpaint.evaluation import EvaluateConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.inpainting.classifier_guided import ClassifierConfig
from tfinpaint.inpainting.semantic import SemanticConfig
from tfinpaint.judge import JudgeConfig
from tfinpaint.models.dcgan import DCGANConfig
from tfinpaint.models.googlenet import GoogLeNetConfig
from tfinpaint.models.lenet import LeNetConfig
from tfinpaint.training.classifier import ClassifierTraining
from tfinpaint.training.gan import GANTraining

DATA = DataConfig(dataset="synthetic", image_size=32, channels=1)
STEPS = dict(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2)


def get_config(kind):
  if kind == "lenet":
    return Experiment(
        name="test_lenet", data=DATA, network=LeNetConfig(width=0.25),
        train=ClassifierTraining(workdir="workdirs/test_lenet", **STEPS),
        export=ExportConfig(export_dir="exported/test_lenet"),
        request=ClassifierConfig(iterations=2, max_iterations=4),
        evaluate=EvaluateConfig(num_images=6, masks=("center",)))
  if kind == "googlenet":
    return Experiment(
        name="test_googlenet", data=DATA, network=GoogLeNetConfig(width=0.1),
        train=ClassifierTraining(workdir="workdirs/test_googlenet", patch_training=False,
                                 **STEPS))
  if kind == "dcgan":
    return Experiment(
        name="test_dcgan", data=DATA, network=DCGANConfig(width=0.125, z_dim=8),
        train=GANTraining(workdir="workdirs/test_dcgan", sample_every=2, **STEPS),
        export=ExportConfig(export_dir="exported/test_semantic",
                            networks={"classifier": "workdirs/test_googlenet"}),
        request=SemanticConfig(iterations=2, num_starts=1))
  if kind == "judge":
    return Experiment(
        name="test_judge", data=DATA, network=JudgeConfig(),
        train=ClassifierTraining(workdir="workdirs/test_judge", patch_training=False, **STEPS),
        export=ExportConfig(export_dir="exported/test_lenet"))
  raise ValueError(f"no test experiment {kind!r}")
