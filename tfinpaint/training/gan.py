"""DCGAN training (paper 000, Section 2.2) on the shared loop core.

Only the GAN-specific part lives here: its settings (`GANTraining`, the defaults of
Radford et al. and the paper: Adam 2e-4, beta1 0.5, batch 64, 13,000 steps), the per-replica
step with the standard non-saturating losses (sigmoid cross-entropy on the discriminator's
logits: D learns real -> 1, fake -> 0; G learns D(G(z)) -> 1), two Adam optimizers and the
sample-grid hook. Strategy, checkpoints and resume, scalars, progress and ETA come from
`loop.run`.

z is drawn uniformly from [-1, 1], the box the semantic inpainter clips z to,
from a tf.random.Generator that is checkpointed (and gives every replica its
own stream). Sample grids use one fixed z and run the generator in inference
mode (BatchNorm moving statistics), i.e. exactly as the inpainter will.
Horizontal flips are the dataset's job: data.load(..., flip=True). The real images of a
split that fits in memory come in an order that is a pure function of (seed, step), so with the
checkpointed z generator a resumed run ends bitwise equal to the uninterrupted one (`_input`).
"""

import dataclasses
import os

import numpy as np
import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from tfinpaint import config
from tfinpaint import images
from tfinpaint.errors import InputError
from tfinpaint.training import checkpoints, inputs, loop
from tfinpaint.training import strategy as strategy_lib

_SHUFFLE_BUFFER = 10000


@config.kind("trainer", "gan")
@dataclasses.dataclass(frozen=True)
class GANTraining(loop.LoopConfig):
  """How the DCGAN is trained (paper 000, Section 2.2; Radford et al.)."""
  num_steps: int = config.field(13000, help="steps in all (one D and one G update each; "
                                "13,000 in the paper)", low=0, high=10**9)
  learning_rate: float = config.field(2e-4, help="Adam learning rate of both networks",
                                      low=0.0, low_open=True, high=10.0)
  beta1: float = config.field(0.5, help="Adam beta1 of both networks", low=0.0, high=0.999999)
  sample_every: int = config.field(500, help="steps between sample grids (0 = none)", low=0,
                                   high=10**9)
  num_samples: int = config.field(64, help="images per sample grid (a multiple of 8 is tiled 8 "
                                  "wide)", low=1, high=1024)

  NETWORKS = ("generator", "discriminator")

  def run(self, networks, data, strategy, hooks=(), log=loop.echo):
    """Trains the DCGAN of `networks` on the experiment's data (bin.train, through the runner)."""
    train_ds, _ = data.load(data.train_split, flip=True, seed=self.seed)
    return train(networks["generator"], networks["discriminator"], train_ds, self,
                 strategy=strategy, hooks=hooks, log=log)


def _batched(train_ds, batch_size, seed):
  """(image, label) or image elements -> repeated, shuffled batches of images (streaming)."""
  spec = train_ds.element_spec
  if isinstance(spec, tuple):
    train_ds = train_ds.map(lambda image, *_: image)
  return (train_ds.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
          .repeat().batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def _input(train_ds, batch_size, seed, log):
  """The real images as a function start_step -> batched dataset (see loop.run).

  A split that fits in memory and is the same on every pass (loop.materialize) gives batch `s`
  as a pure function of (seed, s): every epoch is a permutation of the split fixed by
  (seed, epoch), so a resumed run starts at its step at no cost and, with z from the
  checkpointed generator, ends bitwise equal to the uninterrupted run. Otherwise the split
  streams through a shuffle buffer as before and a resumed run replays it.
  """
  arrays, num_examples, note = inputs.materialize(train_ds)
  log(note)
  if num_examples == 0:
    raise InputError("the training split is empty")
  if num_examples is not None and batch_size > num_examples:
    raise InputError(f"batch_size {batch_size} is larger than the {num_examples} training "
                     "examples")
  if arrays is None:
    return _batched(train_ds, batch_size, seed)
  pixels = tf.constant(arrays[0] if isinstance(arrays, tuple) else arrays)

  def batches(start):
    return (inputs.shuffled_positions(start * batch_size, num_examples, seed)
            .map(lambda counter, epoch, index: tf.gather(pixels, index),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))

  return batches


def _check(generator, discriminator, train_ds, batch_size, strategy):
  spec = train_ds.element_spec
  image_spec = spec[0] if isinstance(spec, tuple) else spec
  image_shape = tuple(discriminator.input_shape[1:])
  if tuple(image_spec.shape) != image_shape:
    raise InputError(f"dataset images are {tuple(image_spec.shape)}, the discriminator "
                     f"takes {image_shape}")
  if tuple(generator.output_shape[1:]) != image_shape:
    raise InputError(f"generator makes {tuple(generator.output_shape[1:])} images, the "
                     f"discriminator takes {image_shape}")
  if batch_size < 1 or batch_size % strategy.num_replicas_in_sync:
    raise InputError(f"batch_size {batch_size} must be a positive multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")


def sample_grid(generator, z, columns=8):
  """Generator images for fixed z (inference mode) tiled into one [0, 1] image."""
  fake = images.to_unit(np.asarray(generator(z, training=False)))
  rows = len(fake) // columns
  cols = [fake[j * rows:(j + 1) * rows] for j in range(columns)]
  scale = 2 if fake.shape[1] <= 32 else 1
  return images.grid(cols, pad=2, scale=scale)


def write_image_summary(logdir, tag, image01, step):
  """One TensorBoard image (what tensorboard's summary.image writes, from core TF only).

  tensorflow-cpu does not install the tensorboard package that tf.summary.image
  needs, so the plugin's format is written directly: [width, height, png].
  """
  pixels = images.to_uint8(image01)
  png = tf.io.encode_png(pixels[..., None] if pixels.ndim == 2 else pixels)
  tensor = tf.stack([tf.as_string(image01.shape[1]), tf.as_string(image01.shape[0]), png])
  metadata = summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images"))
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default():
    tf.summary.write(tag, tensor, step=step, metadata=metadata)
  writer.close()


def train(generator, discriminator, train_ds, settings, *, strategy, hooks=(), log=loop.echo):
  """Trains a DCGAN; resumes from workdir/checkpoints when present.

  A resumed run ends bitwise equal to the uninterrupted one (on CPU) when the training split
  fits in memory and is the same on every pass (see `_input`).

  Args:
    generator, discriminator: models from tfinpaint.models.dcgan, built by the caller inside
      `strategy.scope()`; z is the generator's input, drawn from U[-1, 1].
    train_ds: UNBATCHED tf.data.Dataset of (image [-1, 1], label) as returned by data.load
      (labels are ignored) or of images; shuffled, repeated and batched here.
    settings: a GANTraining. Its workdir gets checkpoints/, summaries/ (scalars; summaries/
      samples/ the sample images) and samples/step_XXXXXX.png grids; its seed seeds shuffling,
      z sampling and the fixed sample z.
    strategy: the tf.distribute.Strategy (training.strategy.make_strategy).
    hooks: more (every_n_steps, fn(step, metrics)) pairs for loop.run.
    log: print-like function for progress lines.
  Returns:
    loop.run's dict: the last step's float metrics (d_loss, g_loss, d_real, d_fake: mean D
    probabilities on real and fake) and "step", plus "sample_path" (str) of the last grid
    written in this call, if any.
  """
  s = settings
  batch_size, seed, num_samples, workdir = s.batch_size, s.seed, s.num_samples, s.workdir
  z_dim = int(generator.input_shape[-1])
  _check(generator, discriminator, train_ds, batch_size, strategy)
  checkpoints.check_workdir(workdir)
  dataset = _input(train_ds, batch_size, seed, log)
  with strategy.scope():
    g_opt = strategy_lib.maybe_loss_scale(keras.optimizers.Adam(s.learning_rate, beta_1=s.beta1,
                                                                name="g_adam"))
    d_opt = strategy_lib.maybe_loss_scale(keras.optimizers.Adam(s.learning_rate, beta_1=s.beta1,
                                                                name="d_adam"))
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    rng = tf.random.Generator.from_seed(seed)
  replicas = float(strategy.num_replicas_in_sync)

  def ce(logits, value):  # in float32 also under mixed precision
    logits = tf.cast(logits, tf.float32)
    return tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), value), logits=logits)[:, 0]

  def train_step(real):
    z = rng.uniform([tf.shape(real)[0], z_dim], -1.0, 1.0)
    with tf.GradientTape() as tape:
      fake = generator(z, training=True)
      real_logit = discriminator(real, training=True)
      fake_logit = discriminator(fake, training=True)
      d_loss = tf.reduce_mean(ce(real_logit, 1.0) + ce(fake_logit, 0.0))
      scaled = d_opt.scale_loss(d_loss / replicas)  # gradients are summed over replicas
    grads = tape.gradient(scaled, discriminator.trainable_variables)
    d_opt.apply_gradients(zip(grads, discriminator.trainable_variables))
    with tf.GradientTape() as tape:
      g_logit = discriminator(generator(z, training=True), training=True)
      g_loss = tf.reduce_mean(ce(g_logit, 1.0))
      scaled = g_opt.scale_loss(g_loss / replicas)
    grads = tape.gradient(scaled, generator.trainable_variables)
    g_opt.apply_gradients(zip(grads, generator.trainable_variables))
    return dict(d_loss=d_loss, g_loss=g_loss,
                d_real=tf.reduce_mean(tf.sigmoid(tf.cast(real_logit, tf.float32))),
                d_fake=tf.reduce_mean(tf.sigmoid(tf.cast(fake_logit, tf.float32))),
                learning_rate=tf.cast(g_opt.learning_rate, tf.float32))

  fixed_z = np.random.RandomState(seed).uniform(-1.0, 1.0, (num_samples, z_dim))
  fixed_z = fixed_z.astype(np.float32)
  sample_dir = os.path.join(workdir, "samples")
  written = {}

  def write_samples(step, metrics):
    del metrics
    if not strategy_lib.is_chief(strategy):  # Only the chief writes into the shared workdir.
      return
    grid = sample_grid(generator, fixed_z, columns=8 if num_samples % 8 == 0 else 1)
    path = os.path.join(sample_dir, f"step_{step:06d}.png")
    images.write_png(path, grid)
    write_image_summary(os.path.join(workdir, "summaries", "samples"), "samples", grid, step)
    written["sample_path"] = path

  sample_every, num_steps = s.sample_every, s.num_steps
  hooks = list(hooks) + ([(sample_every, write_samples)] if sample_every else [])
  metrics = loop.run(
      workdir=workdir, strategy=strategy,
      checkpoint=dict(generator=generator, discriminator=discriminator, g_optimizer=g_opt,
                      d_optimizer=d_opt, rng=rng),
      train_step=train_step, dataset=dataset, num_steps=num_steps, log_every=s.log_every,
      checkpoint_every=s.checkpoint_every, hooks=hooks,
      restart_from_scratch=s.restart_from_scratch, log=log)
  if sample_every and len(metrics) > 1 and num_steps % sample_every:
    write_samples(num_steps, metrics)  # the final generator, when the hook missed it.
  return dict(metrics, **written)
