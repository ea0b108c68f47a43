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

import os

import keras
import tensorflow as tf

from tfinpaint import images as images_lib
from tfinpaint.errors import InputError
from tfinpaint.training import loop

# "Zeroing" in the paper means grey level 0 = black. Inside tfinpaint pixels are in [-1, 1], where
# black is -1 (0 would be mid-grey and would paint a grey frame around every patch).
BLACK = -1.0


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
    raise InputError(f"patch_repeats must be >= 1, got {repeats}")
  if not 1 <= patch_min <= patch_max:
    raise InputError(f"need 1 <= patch_min <= patch_max, got {patch_min}, {patch_max}")


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


def patches(ds, *, repeats=5, patch_min=7, patch_max=20, face_patches=False,
            face_energy_threshold=0.01, seed=0):
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
           shuffle_buffer):
  """The training input as a function start_step -> batched dataset (see loop.run).

  A split that fits in memory (loop.materialize) gives batch `s` as a pure function of
  (seed, s): the elements of an endless run of epochs, each epoch every (example, copy) pair in
  an order fixed by (seed, epoch), copy r of example i in epoch e cut with the same counter
  (e*N + i)*K + r that `patches` gives it on the repeated split, so a resumed run starts at its
  step at no cost. Otherwise (too big, or re-randomised on every pass, e.g. flips) the split
  streams through `patches` and a shuffle buffer as before and a resumed run replays it.
  """
  arrays, num_examples, note = loop.materialize(train_ds)
  print(note, flush=True)
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
    return (loop.shuffled_positions(start * batch_size, num_examples * copies, seed)
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
  if lr_values is None:
    values = [float(learning_rate) * 0.1 ** i for i in range(len(boundaries) + 1)]
  else:
    values = [float(v) for v in lr_values]
  if len(values) != len(boundaries) + 1:
    raise InputError(f"lr_values needs {len(boundaries) + 1} values for {len(boundaries)} "
                     f"boundaries, got {len(values)}")
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


def train(model, train_ds, test_ds, *, workdir, strategy, num_steps, batch_size, learning_rate,
          lr_boundaries=(), lr_values=None, patch_training=True, patch_repeats=5, patch_min=7,
          patch_max=20, face_patches=False, face_energy_threshold=0.01, aux_weight=0.3,
          adversarial_epsilon=0.0, adversarial_steps=7,
          log_every=100, checkpoint_every=1000, seed=0, shuffle_buffer=4096,
          restart_from_scratch=False):
  """Trains `model` with Adam on (patches of) `train_ds`, then scores it on untouched `test_ds`.

  The model MUST have been built inside `strategy.scope()` by the caller; this function creates
  the Adam optimizer there too and builds it on model.trainable_variables (Keras 3 optimizers
  fail under a multi-replica MirroredStrategy otherwise). The checkpoint holds
  {"model": model, "optimizer": optimizer} in workdir/checkpoints (see loop.restore); a call with
  the same workdir resumes, and ends bitwise equal to an uninterrupted run (on CPU) when the
  training split fits in memory and is the same on every pass (see `_input`).

  Loss: sparse softmax cross-entropy on the "logits" output (the whole output for models that
  return a tensor) plus `aux_weight` times the cross-entropy of every "aux*" output (GoogLeNet),
  summed per example and divided by the global batch size, plus any model regularisation losses.
  BatchNorm and Dropout run in training mode in the step.

  Args:
    model: Keras model image [N, H, W, C] in [-1, 1] -> logits or dict {"logits", "aux1", ...}.
    train_ds, test_ds: unbatched (image, label) datasets (tfinpaint.data.load).
    workdir: checkpoints/ and summaries/ go here.
    strategy: tf.distribute.Strategy (training.loop.make_strategy).
    num_steps: total optimizer steps; batch_size: GLOBAL batch size.
    learning_rate: Adam rate; with lr_boundaries (steps) a piecewise-constant schedule takes
      lr_values (default: learning_rate divided by 10 at each boundary).
    patch_training, patch_repeats, patch_min, patch_max, face_patches, face_energy_threshold:
      see `patches`. patch_training=False trains on whole images.
    aux_weight: weight of auxiliary-head losses.
    adversarial_epsilon, adversarial_steps: when epsilon > 0, every training batch is replaced
      by its L2 PGD adversarial examples (Madry et al. 2018) of radius epsilon, found in
      `adversarial_steps` steps of size 2.5 * epsilon / steps and clipped to [-1, 1]: a robust
      classifier, whose input gradients look like image features (Santurkar et al. 2019), which
      is what classifier-guided inpainting descends.
    log_every, checkpoint_every: see loop.run.
    seed: seeds the patches and the shuffle order.
    shuffle_buffer: examples in the shuffle buffer (after patch repetition); only used when the
      split streams (see `_input`): in memory every epoch is a full permutation.
    restart_from_scratch: discard checkpoints of which none restores (see loop.run).

  Returns:
    dict of the last step's train metrics ("loss", "accuracy", "learning_rate", ...) plus
    "test_accuracy" on the untouched test split (also written to TensorBoard) and "step".
  """
  # Everything the user can get wrong is refused before anything is written.
  if batch_size < strategy.num_replicas_in_sync or batch_size % strategy.num_replicas_in_sync:
    raise InputError(f"batch_size {batch_size} must be a multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")
  if patch_training:
    _check_patch_args(patch_repeats, patch_min, patch_max)
  if adversarial_epsilon < 0 or adversarial_steps < 1:
    raise InputError(f"need adversarial_epsilon >= 0 and adversarial_steps >= 1, got "
                     f"{adversarial_epsilon}, {adversarial_steps}")
  loop.check_workdir(workdir)
  schedule = _learning_rate(learning_rate, lr_boundaries, lr_values)
  patch_kwargs = dict(patch_min=patch_min, patch_max=patch_max, face_patches=face_patches,
                      face_energy_threshold=face_energy_threshold)
  dataset = _input(train_ds, batch_size=batch_size, patch_training=patch_training,
                   patch_repeats=patch_repeats, patch_kwargs=patch_kwargs, seed=seed,
                   shuffle_buffer=shuffle_buffer)
  with strategy.scope():
    optimizer = loop.maybe_loss_scale(keras.optimizers.Adam(schedule))
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

  metrics = loop.run(workdir=workdir, strategy=strategy,
                     checkpoint={"model": model, "optimizer": optimizer},
                     train_step=train_step, dataset=dataset, num_steps=num_steps,
                     log_every=log_every, checkpoint_every=checkpoint_every,
                     restart_from_scratch=restart_from_scratch)
  test_accuracy = evaluate(model, test_ds, batch_size)
  print(f"test accuracy {test_accuracy:.4f} (untouched test split)", flush=True)
  if loop.is_chief(strategy):
    writer = tf.summary.create_file_writer(os.path.join(workdir, "summaries"))
    loop.write_scalars(writer, metrics["step"], {"test_accuracy": test_accuracy})
    writer.close()
  return {**metrics, "test_accuracy": test_accuracy}
