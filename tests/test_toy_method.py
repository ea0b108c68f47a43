"""A new method is its own module, its config and one registration: proved by a toy method that
lives in this file alone.

The toy "denoiser prior" method has its own network (a two-layer conv net), its own trainer (it
learns to fill random square holes of the training images, an L1 loss on the hole) and its own
inpainter (gradient descent on the missing pixels towards a fixed point of the network:
minimise ||net(x) - x||^2 over the hole). This file is also the toy's experiment
(`get_config`), so the real entry points take it as `--config=tests/test_toy_method.py`:
bin.train -> bin.export -> bin.inpaint -> bin.evaluate -> bin.benchmark run it, and TF
Serving's loader serves it, with no edit to any module of the package.
"""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import config, export, masks, served
from tfinpaint.data import DataConfig
from tfinpaint.errors import InputError
from tfinpaint.evaluation import EvaluateConfig
from tfinpaint.experiment import Experiment
from tfinpaint.export import ExportConfig
from tfinpaint.inpainting import base
from tfinpaint.models import NetworkConfig
from tfinpaint.serving import capi
from tfinpaint.training import loop
from tfinpaint.training import strategy as strategy_lib

HERE = os.path.abspath(__file__)


@config.kind("network", "toy_denoiser")
@dataclasses.dataclass(frozen=True)
class ToyNetConfig(NetworkConfig):
  """Two 3x3 convolutions: image with its hole -> image."""
  filters: int = config.field(4, help="filters of the hidden layer", low=1, high=64)

  def build(self, image_shape, num_classes):
    del num_classes
    image = keras.Input(tuple(image_shape))
    x = keras.layers.Conv2D(self.filters, 3, padding="same", activation="tanh")(image)
    out = keras.layers.Conv2D(image_shape[-1], 3, padding="same", activation="tanh")(x)
    return {"model": keras.Model(image, out, name="toy_denoiser")}


@config.kind("trainer", "toy")
@dataclasses.dataclass(frozen=True)
class ToyTraining(loop.LoopConfig):
  """Adam on the L1 error of the network's fill of a random square hole."""
  learning_rate: float = config.field(1e-2, help="Adam learning rate", low=0.0, low_open=True,
                                      high=1.0)
  NETWORKS = ("model",)

  def run(self, networks, data, strategy, hooks=(), log=loop.echo):
    model = networks["model"]
    train_ds, _ = data.load(data.train_split, seed=self.seed)
    ds = train_ds.map(lambda image, label: image).repeat().batch(self.batch_size,
                                                                 drop_remainder=True)
    with strategy.scope():
      optimizer = keras.optimizers.Adam(self.learning_rate)
      optimizer.build(model.trainable_variables)
    h, w = data.image_shape[:2]
    known = tf.constant(masks.make("center", 1, h, w))

    def train_step(images):
      with tf.GradientTape() as tape:
        fill = model(images * known, training=True)
        loss = tf.reduce_sum(tf.abs(fill - images) * (1.0 - known)) / self.batch_size
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, model.trainable_variables))
      return {"loss": loss}

    return loop.run(workdir=self.workdir, strategy=strategy,
                    checkpoint={"model": model, "optimizer": optimizer}, train_step=train_step,
                    dataset=lambda start: ds.skip(start), num_steps=self.num_steps,
                    log_every=self.log_every, checkpoint_every=self.checkpoint_every,
                    hooks=hooks, restart_from_scratch=self.restart_from_scratch, log=log)


@dataclasses.dataclass(frozen=True)
class ToyConfig(config.Config):
  image_shape: tuple[int, ...] = config.field((16, 16, 1), help="image shape", derived=True)
  iterations: int = config.field(5, help="descent steps", low=0, high=10**4)
  max_iterations: int = config.field(50, help="no request runs more", low=1, high=10**4)
  step_size: float = config.field(0.5, help="step on the missing pixels", low=1e-6, high=10.0)
  block_rows: int = config.field(4, help="rows per block of the descent", low=1, high=256)


@base.register
class ToyInpainter(base.Inpainter):
  """Descends ||net(x) - x||^2 over the missing pixels, from a grey start."""
  KIND = "toy_prior"
  Config = ToyConfig
  OPTIONS = (base.Option("iterations", tf.int32, clamp=True, high=lambda c: c.max_iterations),
             base.Option("step_size", tf.float32))
  NETWORKS = ("denoiser",)
  ROLES = ("denoiser",)
  METHODS = {"toy": ("serving_default", {})}

  def signatures(self):
    h, w, c = self.image_shape
    inputs = (tf.TensorSpec([None, h, w, c], tf.float32, name="image"),
              tf.TensorSpec([None, h, w, 1], tf.float32, name="mask"))
    return {"serving_default": base.Signature("serving_default", inputs, self.options(),
                                              self.run, "the toy descent")}

  def step(self, x, rows, opts):
    with tf.GradientTape() as tape:
      tape.watch(x)
      energy = tf.reduce_sum(tf.square(self.networks["denoiser"](x, training=False) - x))
    moved = x - opts["step_size"] * tape.gradient(energy, x)
    return masks.composite(rows["image"], tf.clip_by_value(moved, -1.0, 1.0), rows["known"])

  def _descend(self, image, mask, opts):
    rows = dict(image=image, known=masks.binarize(mask))
    x0 = masks.composite(image, tf.zeros_like(image), rows["known"])
    _, x = tf.while_loop(lambda i, _: i < opts["iterations"],
                         lambda i, x: (i + 1, self.step(x, rows, opts)), (tf.constant(0), x0))
    return {"inpainted": x}

  def run(self, inputs, opts):
    h, w, c = self.image_shape
    spec = {"inpainted": tf.TensorSpec([self.config.block_rows, h, w, c], tf.float32)}
    return base.in_blocks(lambda rows: self._descend(*rows, opts),
                          (inputs["image"], inputs["mask"]), (0.0, 1.0),
                          self.config.block_rows, spec)

  @classmethod
  def assemble(cls, trained, config_, log=print):
    t = trained["denoiser"]
    return cls({"denoiser": t.networks["model"]},
               dataclasses.replace(config_, image_shape=t.experiment.data.image_shape))

  @classmethod
  def example(cls, size="tiny", **config_):
    keras.utils.set_random_seed(config_.pop("seed_weights", 0))
    net = ToyNetConfig().build((16, 16, 1), 1)["model"]
    return cls({"denoiser": net}, ToyConfig(**config_))

  def reference(self, inputs, options=None):
    opts = self.resolve(options)
    out = []
    for i in range(len(inputs["image"])):
      image = tf.constant(inputs["image"][i:i + 1])
      rows = dict(image=image, known=masks.binarize(tf.constant(inputs["mask"][i:i + 1])))
      x = masks.composite(image, tf.zeros_like(image), rows["known"])
      for _ in range(int(opts["iterations"])):
        x = self.step(x, rows, opts)
      out.append(x.numpy()[0])
    return np.stack(out)

  def step_networks(self, images):
    return [("denoiser", self.networks["denoiser"], images)]


def get_config():
  """The toy's experiment: bin.train / bin.export / bin.evaluate --config=<this file>."""
  return Experiment(
      name="toy", data=DataConfig(dataset="synthetic", image_size=16, channels=1),
      network=ToyNetConfig(), train=ToyTraining(workdir="workdirs/toy", num_steps=3,
                                                batch_size=8, log_every=1, checkpoint_every=3),
      export=ExportConfig(export_dir="exported/toy", samples="digits"), request=ToyConfig(),
      evaluate=EvaluateConfig(num_images=6, masks=("center",), methods=("toy", "telea")))


# ----------------------------------------------------------------------------- the tests


def test_one_registry_knows_the_toy_and_refuses_a_second_of_its_name():
  assert {"classifier_guided", "semantic", "toy_prior"} <= set(base.kinds())
  assert base.get("toy_prior") is ToyInpainter and base.for_config(ToyConfig()) is ToyInpainter
  assert config.kind_class("network", "toy_denoiser") is ToyNetConfig
  assert "step_size" in base.request_options()  # the toy's option is a flag of bin.inpaint
  with pytest.raises(InputError, match="unknown inpainter kind"):
    base.get("nope")
  with pytest.raises(ValueError, match="already registered"):
    base.register(type("Other", (ToyInpainter,), {}))


def test_the_toy_through_every_command(tmp_path, monkeypatch, capsys):
  from tests.test_cli import run_main  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  me = f"--config={HERE}"
  run_main("train", [me])
  assert os.path.isfile(tmp_path / "workdirs" / "toy" / "checkpoints" / "ckpt-3.index")
  run_main("export", [me])
  version = tmp_path / "exported" / "toy" / "1"
  assert (version / "saved_model.pb").is_file()
  run_main("inpaint", [me, "--num_images=2", "--iterations=3", "--output_dir=out",
                       "--resize"])
  assert "grid.png" in os.listdir(tmp_path / "out")
  run_main("evaluate", [me, "--iterations=3", "--config.evaluate.output_dir=ev"])
  assert "| PSNR - center |" in open(tmp_path / "ev" / "results.md").read()
  monkeypatch.setenv("PYTHONPATH", os.path.dirname(os.path.dirname(HERE)))
  run_main("benchmark", ["--methods=toy_prior", "--benchmarks=loops,serving",
                         f"--model_dir={tmp_path / 'exported' / 'toy'}", "--batch_size=2",
                         "--iterations=2", "--output_dir=bench"])
  table = open(tmp_path / "bench" / "benchmark.md").read()
  assert "| toy_prior 16x16x1, oneDNN off | exported tf.while_loop |" in table
  assert "| toy serving_default (served) | batch 2 |" in table
  out = capsys.readouterr().out
  assert "wrote version" in out and "wrote 2 result(s)" in out


def test_the_toy_export_runs_in_tf_servings_loader(tmp_path):
  inp = ToyInpainter.example()
  version_dir = export.export(inp, tmp_path / "toy")
  model = served.load(tmp_path / "toy")
  assert model.kind == "toy_prior" and model.default_method == "toy"
  rng = np.random.default_rng(0)
  image = rng.uniform(0, 1, (3, 16, 16, 1)).astype(np.float32)
  mask = masks.make("center", 3, 16, 16)
  out = model.run("serving_default", {"image": image, "mask": mask}, {"iterations": 3})
  np.testing.assert_array_equal(out["inpainted"][mask[..., 0] == 1], image[mask[..., 0] == 1])
  served_out = capi.run(version_dir, [("serving_default", {"image": image, "mask": mask,
                                                           "iterations": np.int32(3)})],
                        warmup=True)
  assert served_out.warmup_requests == 1
  np.testing.assert_allclose(served_out.outputs[0]["inpainted"], out["inpainted"], atol=1e-6)
  reference = inp.reference({"image": image * 2 - 1, "mask": mask}, {"iterations": 3})
  np.testing.assert_allclose(reference, out["inpainted"] * 2 - 1, atol=1e-5)


def test_the_toy_trainer_runs_under_the_shared_strategy(tmp_path):
  e = get_config()
  strategy = strategy_lib.make_strategy(e.runtime)
  nets = e.network.build(e.data.image_shape, 1)
  metrics = e.train.replace(workdir=str(tmp_path / "w")).run(nets, e.data, strategy,
                                                              log=lambda line: None)
  assert metrics["step"] == 3 and np.isfinite(metrics["loss"])
