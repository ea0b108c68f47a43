"""The configs/cars_* networks at paper size: built, trained one step, inpainted, exported, served.

Stanford Cars is not on this machine, so the networks of cars_dcgan.flags and cars_googlenet.flags
are built at their real size (64x64x3, width 1.0, 196 classes) and trained by the real trainers
on random data of the real shape; the semantic inpainter of the cars_dcgan export is built from
them, run, exported with tfinpaint.export, reloaded with tf.saved_model.load and called once
(serving_default, iterations=1). All of it through tfinpaint.paper_scale.paper_scale, the
library of bin.benchmark --paper_scale, with the smallest repeat counts.
"""

import json
import math
import os

import pytest

from tfinpaint import paper_scale
from tfinpaint.errors import InputError


def test_cars_configs_at_paper_size(tmp_path):
  lines = []
  # The networks at their real size; a training batch of 8 instead of 64 keeps the suite quick.
  results = paper_scale.paper_scale(train_steps=2, inpaint_iterations=1, batch_size=8,
                                    export_dir=str(tmp_path / "cars_semantic"),
                                    log=lines.append)
  print(json.dumps(results, indent=1, default=str))
  assert set(results) == {"cars_dcgan", "cars_googlenet", "cars_inpaint"}
  dcgan, googlenet, inpaint = (results[k] for k in ("cars_dcgan", "cars_googlenet",
                                                     "cars_inpaint"))
  for r in (dcgan, googlenet):
    assert r["image_shape"] == [64, 64, 3] and r["batch_size"] == 8
    assert 0 < r["step_seconds"] < 120 and math.isfinite(r["step_seconds"])
    assert r["paper_seconds"] == pytest.approx(r["paper_steps"] * r["step_seconds"])
    assert r["peak_rss_mib"] > 100
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
  assert len(table) == 5 and table[2].startswith("| cars_dcgan |")
  assert f"{dcgan['paper_hours']:.1f} h" in table[2]
  assert f"{inpaint['iteration_seconds']:.2f} s" in table[4]


def test_paper_scale_refuses_too_few_repeats():
  with pytest.raises(InputError, match="train_steps >= 2"):
    paper_scale.paper_scale(train_steps=1)


def test_read_flags(tmp_path):
  from tfinpaint.training import runner  # pylint: disable=g-import-not-at-top
  path = tmp_path / "x.flags"
  path.write_text("# comment\n--model=dcgan\n--flip\n--nopatch_training\n\n--width=1.0\n")
  assert runner.read_flags(str(path)) == dict(model="dcgan", flip=True, patch_training=False,
                                              width="1.0")
  with pytest.raises(InputError, match="no such flagfile"):
    runner.read_flags(str(tmp_path / "missing.flags"))
  assert runner.read_flags(str(tmp_path / "missing.flags"), missing_ok=True) == {}
