"""Trains the classifiers that the inpainting procedures differentiate, with patch training.

Paper 003 (Sections 3.4, 4.1) found that classifier-guided inpainting works only when the
classifier was trained on *portions* of images: each training image is used K times, each time
with everything outside one random rectangle (7x7 to 20x20 pixels on 28x28 digits) zeroed, so the
network learns to recognise a class from local details and its input gradient can fill a hole.
For faces (Section 4.2) a dark patch carries no information, so a patch whose energy is too low is
replaced by the whole image. `patch_training=False` trains on whole images: the ablation of
Figure 7, row 1.

The patches are cut in the tf.data pipeline with stateless random ops keyed on (seed, example
counter), so a run is reproducible and a patch never depends on the batch it lands in. A training
split that fits in memory is held there and every epoch visits its (example, copy) pairs in an
order fixed by (seed, epoch), so batch s is a pure function of (seed, s) and a run killed at any
step resumes bitwise equal to the uninterrupted run (see `_input` and loop.run). The step is
a custom per-replica function run by the shared loop core (training/loop.py), so the same code
trains LeNet (logits tensor) and GoogLeNet (dict with auxiliary heads) on one device or many.
"""

import dataclasses
import os

import keras
import tensorflow as tf

from tfinpaint import config
from tfinpaint import images as images_lib
from tfinpaint.errors import InputError
from tfinpaint.training import checkpoints, inputs, loop
from tfinpaint.training import strategy as strategy_lib

# "Zeroing" in the paper means grey level 0 = black. Inside tfinpaint pixels are in [-1, 1], where
# black is -1 (0 would be mid-grey and would paint a grey frame around every patch).
BLACK = -1.0


@config.kind("trainer", "classifier")
@dataclasses.dataclass(frozen=True)
class ClassifierTraining(loop.LoopConfig):
  """How a classifier (LeNet, GoogLeNet, the judge) is trained: Adam on (patches of) images."""
  learning_rate: float = config.field(1e-3, help="Adam learning rate (the first value of the "
                                      "schedule)", low=0.0, low_open=True, high=10.0)
  lr_boundaries: tuple[int, ...] = config.field(
      (), help="steps at which the learning rate changes (piecewise constant)")
  lr_values: tuple[float, ...] = config.field(
      (), help="learning rates of the schedule, one more than boundaries (default: divided by "
      "10 at each boundary)")
  patch_training: bool = config.field(
      True, help="train on patches (paper 003, 4.1): each image patch_repeats times, all but a "
      "random rectangle blacked out; false: whole images (the Figure 7 ablation)")
  patch_repeats: int = config.field(5, help="copies of each image, each a random patch",
                                    low=1, high=1000)
  patch_min: int = config.field(7, help="smallest patch side in pixels (at 28x28; scaled with "
                                "the image)", low=1, high=10**4)
  patch_max: int = config.field(20, help="largest patch side in pixels (at 28x28; scaled)",
                                low=1, high=10**4)
  face_patches: bool = config.field(
      False, help="face variant (paper 003, 4.2): dark, information-free patches are replaced "
      "by the whole image")
  face_energy_threshold: float = config.field(
      0.01, help="face_patches: a patch whose mean squared [0, 1] value is below this is "
      "replaced by the whole image", low=0.0, high=1.0)
  aux_weight: float = config.field(0.3, help="weight of the auxiliary heads' losses (GoogLeNet)",
                                   low=0.0, high=100.0)
  adversarial_epsilon: float = config.field(
      0.0, help="train on L2 PGD adversarial examples of this radius (in [-1, 1] pixel units; "
      "0 = off): robust gradients draw strokes (Santurkar et al. 2019)", low=0.0, high=100.0)
  adversarial_steps: int = config.field(7, help="PGD steps per adversarial example", low=1,
                                        high=100)
  shuffle_buffer: int = config.field(4096, help="shuffle buffer of a split too large to hold in "
                                     "memory", low=1, high=10**8)

  NETWORKS = ("model",)

  def __post_init__(self):
    super().__post_init__()
    if self.lr_values and len(self.lr_values) != len(self.lr_boundaries) + 1:
      raise ValueError(f"lr_values needs {len(self.lr_boundaries) + 1} values for "
                       f"{len(self.lr_boundaries)} lr_boundaries")
    if list(self.lr_boundaries) != sorted(set(self.lr_boundaries)):
      raise ValueError("lr_boundaries must be increasing")
    if self.patch_training and self.patch_min > self.patch_max:
      raise ValueError(f"patch_min ({self.patch_min}) must not exceed patch_max "
                       f"({self.patch_max})")

  def run(self, networks, data, strategy, hooks=(), log=loop.echo):
    """Trains networks["model"] on the experiment's data (bin.train, through the runner)."""
    train_ds, _ = data.load(data.train_split, flip=True, seed=self.seed)
    test_ds, _ = data.load("test")
    return train(networks["model"], train_ds, test_ds, self, strategy=strategy, hooks=hooks,
                 log=log)

  def score(self, networks, data):
    test_ds, _ = data.load("test")
    return {"test_accuracy": evaluate(networks["model"], test_ds, 256)}


def _split_outputs(outputs):
  """Model output -> (logits, [aux logits]). LeNet returns a tensor, GoogLeNet a dict."""
  if isinstance(outputs, dict):
    aux = [outputs[k] for k in sorted(outputs) if k.startswith("aux")]
    return outputs["logits"], aux
  return outputs, []


def _patch_sides(size, patch_min, patch_max):
  """Side range for an image side of `size` pixels: the paper's 28-pixel range, scaled."""
  scale = size / 28.0
  low = max(1, min(size, int(round(patch_min * scale))))
  high = max(low, min(size, int(round(patch_max * scale))))
  return low, high


def _check_patch_args(repeats, patch_min, patch_max):
  if repeats < 1:
    raise ValueError(f"patch_repeats must be >= 1, got {repeats}")
  if not 1 <= patch_min <= patch_max:
    raise ValueError(f"need 1 <= patch_min <= patch_max, got {patch_min}, {patch_max}")


def _patch_cutter(image_shape, *, patch_min, patch_max, face_patches, face_energy_threshold,
                  seed):
  """cut(counter, image, label) -> (patch, label): the patch of stateless seed (seed, counter).

  Shared by `patches` and train's in-memory input, so that both cut exactly the same patch for
  the same counter.
  """
  height, width = image_shape[:2]
  if height is None or width is None:
    raise InputError("patch training needs images of a fixed size")
  h_low, h_high = _patch_sides(height, patch_min, patch_max)
  w_low, w_high = _patch_sides(width, patch_min, patch_max)

  def cut(counter, image, label):
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(counter, tf.int64)])
    keys = tf.random.experimental.stateless_split(key, 4)
    def uniform(k, low, high):  # integer in [low, high]
      return tf.random.stateless_uniform([], keys[k], minval=low, maxval=high + 1, dtype=tf.int32)
    h = uniform(0, h_low, h_high)
    w = uniform(1, w_low, w_high)
    top = uniform(2, 0, height - h)
    left = uniform(3, 0, width - w)
    rows = tf.range(height)
    cols = tf.range(width)
    inside_rows = (rows >= top) & (rows < top + h)
    inside_cols = (cols >= left) & (cols < left + w)
    inside = inside_rows[:, None, None] & inside_cols[None, :, None]  # [H, W, 1]
    patch = tf.where(inside, image, BLACK)
    if face_patches:
      unit = images_lib.to_unit(image)
      inside_f = tf.cast(inside, image.dtype)
      count = tf.cast(h * w * tf.shape(image)[-1], image.dtype)
      energy = tf.reduce_sum(tf.square(unit) * inside_f) / count
      patch = tf.where(energy < face_energy_threshold, image, patch)
    return patch, label

  return cut


def patches(ds, *, repeats, patch_min, patch_max, face_patches, face_energy_threshold, seed):
  """Patch-training examples (Section 4.1): every example `repeats` times, each a random patch.

  Each copy keeps one random rectangle whose height and width are drawn uniformly from
  [patch_min, patch_max] pixels scaled by image_height/28 and image_width/28 (so 7..20 on 28x28
  digits); every pixel outside it is set to black (-1 in [-1, 1], the paper's "zeroing" of grey
  levels). With `face_patches` (Section 4.2), a copy whose patch has energy (mean of the squared
  [0, 1] pixel values inside the rectangle) below `face_energy_threshold` is replaced by the
  whole image, because patches of dark images carry no information about the person.

  Args:
    ds: unbatched dataset of (image [H, W, C] in [-1, 1], label). Its element order (and `seed`)
      fixes the patches: copy r of the n-th element uses the stateless seed (seed, n*repeats + r).
    repeats: K, copies of each example (consecutive; shuffle afterwards).

  Returns:
    unbatched dataset of (image, label) with `repeats` times as many elements.
  """
  _check_patch_args(repeats, patch_min, patch_max)
  cut = _patch_cutter(ds.element_spec[0].shape, patch_min=patch_min, patch_max=patch_max,
                      face_patches=face_patches, face_energy_threshold=face_energy_threshold,
                      seed=seed)

  def expand(index, example):
    image, label = example
    copies = tf.data.Dataset.range(repeats)
    return copies.map(lambda r: (index * repeats + r, image, label))

  return ds.enumerate().flat_map(expand).map(cut, num_parallel_calls=tf.data.AUTOTUNE,
                                              deterministic=True)


def _input(train_ds, *, batch_size, patch_training, patch_repeats, patch_kwargs, seed,
           shuffle_buffer, log=loop.echo):
  """The training input as a function start_step -> batched dataset (see loop.run).

  A split that fits in memory (inputs.materialize) gives batch `s` as a pure function of
  (seed, s): the elements of an endless run of epochs, each epoch every (example, copy) pair in
  an order fixed by (seed, epoch), copy r of example i in epoch e cut with the same counter
  (e*N + i)*K + r that `patches` gives it on the repeated split, so a resumed run starts at its
  step at no cost. Otherwise (too big, or re-randomised on every pass, e.g. flips) the split
  streams through `patches` and a shuffle buffer as before and a resumed run replays it.
  """
  arrays, num_examples, note = inputs.materialize(train_ds)
  log(note)
  if num_examples == 0:
    raise InputError("the training split is empty")
  copies = patch_repeats if patch_training else 1
  if num_examples is not None and batch_size > num_examples * copies:
    per = f" x {copies} patch copies" if copies > 1 else ""
    raise InputError(f"batch_size {batch_size} is larger than the {num_examples} training "
                     f"examples{per}")
  if arrays is None:
    examples = train_ds.repeat()
    if patch_training:
      examples = patches(examples, repeats=patch_repeats, seed=seed, **patch_kwargs)
    return (examples.shuffle(shuffle_buffer, seed=seed)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))

  images, labels = (tf.constant(a) for a in arrays)
  if patch_training:
    cut = _patch_cutter(images.shape[1:], seed=seed, **patch_kwargs)

  def element(counter, epoch, index):
    del counter
    example = index // copies
    image, label = tf.gather(images, example), tf.gather(labels, example)
    if not patch_training:
      return image, label
    return cut((epoch * num_examples + example) * copies + index % copies, image, label)

  def batches(start):
    return (inputs.shuffled_positions(start * batch_size, num_examples * copies, seed)
            .map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))

  return batches


def pgd(model, images, labels, epsilon, steps):
  """L2 PGD (Madry et al. 2018): for each image, the point within L2 distance `epsilon` (in the
  network's [-1, 1] pixel units, clipped to that range) that `model` gets most wrong, found in
  `steps` normalised-gradient steps of 2.5 * epsilon / steps. No gradient flows back."""
  step = 2.5 * epsilon / steps
  axes = list(range(1, images.shape.rank))
  delta = tf.zeros_like(images)
  for _ in range(steps):
    with tf.GradientTape() as tape:
      tape.watch(delta)
      logits, _ = _split_outputs(model(images + delta, training=False))
      loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels, tf.cast(logits, tf.float32)))
    delta += step * tf.math.l2_normalize(tape.gradient(loss, delta), axis=axes)
    delta = tf.clip_by_norm(delta, epsilon, axes=axes)  # back onto the ball, per image
    delta = tf.clip_by_value(images + delta, -1.0, 1.0) - images
  return tf.stop_gradient(images + delta)


def _learning_rate(learning_rate, lr_boundaries, lr_values):
  if not lr_boundaries:
    return float(learning_rate)
  boundaries = [int(b) for b in lr_boundaries]
  if not lr_values:
    values = [float(learning_rate) * 0.1 ** i for i in range(len(boundaries) + 1)]
  else:
    values = [float(v) for v in lr_values]
  return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def evaluate(model, ds, batch_size):
  """Top-1 accuracy of `model` on the unbatched (image, label) dataset `ds` (inference mode)."""

  image_spec = tf.TensorSpec([None, *ds.element_spec[0].shape], ds.element_spec[0].dtype)
  label_spec = tf.TensorSpec([None], ds.element_spec[1].dtype)

  @tf.function(input_signature=[image_spec, label_spec])  # one trace, whatever the last batch.
  def correct(images, labels):
    logits, _ = _split_outputs(model(images, training=False))
    hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
    return tf.reduce_sum(tf.cast(hits, tf.int64))

  hits, total = 0, 0
  for images, labels in ds.batch(batch_size).prefetch(2):
    hits += int(correct(images, labels))
    total += int(tf.shape(labels)[0])
  if total == 0:
    raise InputError("evaluate: the dataset is empty")
  return hits / total


def train(model, train_ds, test_ds, settings, *, strategy, hooks=(), log=loop.echo):
  """Trains `model` with Adam on (patches of) `train_ds`, then scores it on untouched `test_ds`.

  The model MUST have been built inside `strategy.scope()` by the caller; this function creates
  the Adam optimizer there too and builds it on model.trainable_variables (Keras 3 optimizers
  fail under a multi-replica MirroredStrategy otherwise). The checkpoint holds
  {"model": model, "optimizer": optimizer} in workdir/checkpoints (see checkpoints.restore); a
  call with the same workdir resumes, and ends bitwise equal to an uninterrupted run (on CPU)
  when the training split fits in memory and is the same on every pass (see `_input`).

  Loss: sparse softmax cross-entropy on the "logits" output (the whole output for models that
  return a tensor) plus `aux_weight` times the cross-entropy of every "aux*" output (GoogLeNet),
  summed per example and divided by the global batch size, plus any model regularisation losses.
  BatchNorm and Dropout run in training mode in the step. With adversarial_epsilon > 0, every
  training batch is replaced by its L2 PGD adversarial examples (Madry et al. 2018, `pgd`): a
  robust classifier, whose input gradients look like image features (Santurkar et al. 2019),
  which is what classifier-guided inpainting descends.

  Args:
    model: Keras model image [N, H, W, C] in [-1, 1] -> logits or dict {"logits", "aux1", ...}.
    train_ds, test_ds: unbatched (image, label) datasets (tfinpaint.data.load).
    settings: a ClassifierTraining (workdir, steps, batch, schedule, patches, PGD, ...).
    strategy: tf.distribute.Strategy (training.strategy.make_strategy).
    hooks: (every_n_steps, fn(step, metrics)) pairs, see loop.run.
    log: print-like function for progress lines.

  Returns:
    dict of the last step's train metrics ("loss", "accuracy", "learning_rate", ...) plus
    "test_accuracy" on the untouched test split (also written to TensorBoard) and "step".
  """
  s = settings
  batch_size, aux_weight = s.batch_size, s.aux_weight
  adversarial_epsilon, adversarial_steps = s.adversarial_epsilon, s.adversarial_steps
  # Everything the user can get wrong is refused before anything is written.
  if batch_size < strategy.num_replicas_in_sync or batch_size % strategy.num_replicas_in_sync:
    raise InputError(f"batch_size {batch_size} must be a multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")
  checkpoints.check_workdir(s.workdir)
  schedule = _learning_rate(s.learning_rate, s.lr_boundaries, s.lr_values)
  patch_kwargs = dict(patch_min=s.patch_min, patch_max=s.patch_max,
                      face_patches=s.face_patches, face_energy_threshold=s.face_energy_threshold)
  dataset = _input(train_ds, batch_size=batch_size, patch_training=s.patch_training,
                   patch_repeats=s.patch_repeats, patch_kwargs=patch_kwargs, seed=s.seed,
                   shuffle_buffer=s.shuffle_buffer, log=log)
  with strategy.scope():
    optimizer = strategy_lib.maybe_loss_scale(keras.optimizers.Adam(schedule))
    optimizer.build(model.trainable_variables)

  def cross_entropy(labels, logits):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32))

  def train_step(batch):
    images, labels = batch
    labels = tf.cast(labels, tf.int32)
    if adversarial_epsilon > 0:
      images = pgd(model, images, labels, adversarial_epsilon, adversarial_steps)
    with tf.GradientTape() as tape:
      logits, aux = _split_outputs(model(images, training=True))
      main = cross_entropy(labels, logits)
      per_example = main
      for aux_logits in aux:
        per_example = per_example + aux_weight * cross_entropy(labels, aux_logits)
      loss = tf.reduce_sum(per_example) / batch_size
      if model.losses:
        loss += tf.nn.scale_regularization_loss(
            tf.cast(tf.add_n(model.losses), tf.float32))
      scaled = optimizer.scale_loss(loss)  # the identity unless mixed precision scales it
    variables = model.trainable_variables
    grads = tape.gradient(scaled, variables)
    optimizer.apply_gradients(zip(grads, variables))
    hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels)
    metrics = {"loss": tf.reduce_mean(main),
               "accuracy": tf.reduce_mean(tf.cast(hits, tf.float32)),
               "learning_rate": tf.cast(optimizer.learning_rate, tf.float32)}
    if aux:
      metrics["total_loss"] = tf.reduce_mean(per_example)
    return metrics

  metrics = loop.run(workdir=s.workdir, strategy=strategy,
                     checkpoint={"model": model, "optimizer": optimizer},
                     train_step=train_step, dataset=dataset, num_steps=s.num_steps,
                     log_every=s.log_every, checkpoint_every=s.checkpoint_every, hooks=hooks,
                     restart_from_scratch=s.restart_from_scratch, log=log)
  test_accuracy = evaluate(model, test_ds, batch_size)
  log(f"test accuracy {test_accuracy:.4f} (untouched test split)")
  if strategy_lib.is_chief(strategy):
    writer = tf.summary.create_file_writer(os.path.join(s.workdir, "summaries"))
    loop.write_scalars(writer, metrics["step"], {"test_accuracy": test_accuracy})
    writer.close()
  return {**metrics, "test_accuracy": test_accuracy}
