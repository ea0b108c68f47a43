"""The configs/cars_* experiments at paper size: built, trained, inpainted, exported, served.

Stanford Cars is not on this machine, so each training experiment's network is built from its
own config at its real size (64x64x3, width 1.0, 196 classes) and trained by its own trainer
with its own settings on random data of the real shape; the semantic inpainter of the
cars_dcgan export is assembled from them by its method, run, exported, reloaded and called once.
All of it through tfinpaint.paper_scale.run, the library of bin.benchmark --paper_scale.
"""

import json
import math
import os

import pytest

from tfinpaint import experiment, paper_scale
from tfinpaint.errors import InputError
from tfinpaint.training import gan

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def test_cars_experiments_at_paper_size(tmp_path):
  lines = []
  # The networks at their real size; a training batch of 8 instead of 64 keeps the suite quick.
  results = paper_scale.run(train_steps=2, inpaint_iterations=1, batch_size=8,
                            export_dir=str(tmp_path / "cars_semantic"), log=lines.append)
  print(json.dumps(results, indent=1, default=str))
  assert set(results) == {"cars_dcgan", "cars_googlenet", "cars_inpaint"}
  dcgan, googlenet, inpaint = (results[k] for k in ("cars_dcgan", "cars_googlenet",
                                                     "cars_inpaint"))
  for r in (dcgan, googlenet):
    assert r["image_shape"] == [64, 64, 3] and r["batch_size"] == 8
    assert 0 < r["step_seconds"] < 120 and math.isfinite(r["step_seconds"])
    assert r["paper_seconds"] == pytest.approx(r["paper_steps"] * r["step_seconds"])
    assert r["peak_rss_mib"] > 100
  # Each network trains with its own defaults: the DCGAN at the GAN trainer's 2e-4 (issue 18:
  # paper_scale used to fall back to 1e-3), and the optimizer really ran at that rate.
  assert dcgan["learning_rate"] == gan.GANTraining().learning_rate == 2e-4
  assert dcgan["optimizer_learning_rate"] == pytest.approx(2e-4)
  assert googlenet["learning_rate"] == 1e-3
  assert dcgan["paper_steps"] == 13000 and dcgan["config_steps"] == 13000
  assert googlenet["paper_steps"] == 60 * math.ceil(8144 / 8)
  assert dcgan["params"] > 5e6  # full width: 64 base filters, not a tiny test network
  assert googlenet["params"] > 5e6
  assert inpaint["iterations"] == 1500 and inpaint["images"] == 100
  assert inpaint["num_starts"] == 4 and inpaint["table1_runs"] == 9
  assert inpaint["iteration_seconds"] >= 0
  assert inpaint["paper_seconds"] == pytest.approx(100 * 1500 * inpaint["iteration_seconds"])
  exported = inpaint["export"]
  assert exported["inpainted_shape"] == [1, 64, 64, 3] and exported["finite"]
  assert os.path.isfile(os.path.join(exported["version_dir"], "saved_model.pb"))
  assert sum("paper scale:" in line for line in lines) >= 4
  table = paper_scale.markdown(results).splitlines()  # bin.benchmark --paper_scale's table
  assert table[2].startswith("| cars_dcgan |") and "lr 0.0002" in table[2]
  assert f"{dcgan['paper_hours']:.1f} h" in table[2]
  assert f"{inpaint['iteration_seconds']:.2f} s" in table[4]


def test_the_cars_experiments_name_their_defaults_once():
  dcgan = experiment.load(os.path.join(CONFIGS, "cars_dcgan.py"))
  assert dcgan.train.learning_rate == gan.GANTraining().learning_rate  # not restated
  assert dcgan.export.networks == {"classifier": "workdirs/cars_googlenet"}


def test_paper_scale_refuses_too_few_repeats():
  with pytest.raises(InputError, match="train_steps >= 2"):
    paper_scale.run(train_steps=1)
