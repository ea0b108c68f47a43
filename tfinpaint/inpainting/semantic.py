"""Semantic inpainting (paper 000): search the DCGAN latent space, guided by a classifier.

Why a pure tf.Module: the whole optimisation is one tf.function (a tf.while_loop around a
GradientTape) whose state is loop tensors, so it exports to a SavedModel that TF Serving
runs, and a request's result never depends on the other requests batched with it
(DESIGN.md, "Inpainting procedures are pure tf.Modules"). Nothing here writes a variable.

Procedure (paper 000 Sections 2-3, Yeh et al. 2017):
  * S random starts z0 ~ U[-1, 1]^z_dim per image, drawn from `seed` alone, so every image
    of a batch gets the same starts and its result does not depend on the batch;
  * minimise lambda_c L_c + lambda_p L_p [+ lambda_inp L_inp + lambda_sem L_sem
    [+ lambda_cat L_cat]] (the preset chooses the terms) by Nesterov momentum, z clipped to
    [-1, 1] after every step; networks run with training=False (BatchNorm in inference mode);
  * a start stops moving once ||grad_z|| < epsilon (per-row stopping; epsilon = 0 never stops);
  * per image the start with the lowest final objective wins, and G(z_hat) is Poisson-blended
    into the known pixels.
"""

import importlib
import json

import tensorflow as tf

from tfinpaint import export as export_lib
from tfinpaint import images
from tfinpaint import masks
from tfinpaint.errors import InputError
from tfinpaint.inpainting import blending, losses, optimizers

KIND = "semantic"

_WEIGHT_KEYS = ("lambda_c", "lambda_p", "lambda_inp", "lambda_sem", "lambda_cat", "layers")
_LAMBDA = {"context": "lambda_c", "prior": "lambda_p", "inpainting": "lambda_inp",
           "semantic": "lambda_sem", "categorical": "lambda_cat"}


def _merge_weights(weights):
  merged = losses.paper_weights("center")
  if weights:
    unknown = sorted(set(weights) - set(_WEIGHT_KEYS))
    if unknown:
      raise InputError(f"unknown loss weight(s) {', '.join(unknown)}; expected "
                       f"{', '.join(_WEIGHT_KEYS)}")
    merged.update(weights)
  merged = {k: (dict((str(n), float(w)) for n, w in v.items()) if k == "layers" else float(v))
            for k, v in merged.items()}
  return merged


def _rows(x, starts):
  """[N, ...] -> [N * S, ...], row n * S + s is image n."""
  return tf.repeat(x, starts, axis=0)


def _hold_last(trace, length):
  """Pads a [T, R] trace to [length, R] (length >= T) by repeating its last row."""
  return tf.concat([trace, tf.repeat(trace[-1:], length - tf.shape(trace)[0], axis=0)], axis=0)


class SemanticInpainter(tf.Module):
  """Latent-space inpainting with context, prior, inpainting, semantic and categorical losses.

  Use `inpaint(image, mask, iterations, seed)` (a tf.function with an input signature);
  `loss_terms` evaluates the weighted terms for given latents (tests, plots); `config()`
  returns the JSON-able constructor arguments that `load_networks` rebuilds it from.
  """

  def __init__(self, generator, discriminator, classifier_endpoints=None, *, z_dim,
               image_shape, preset="yeh", weights=None, context_norm="l1",
               prior_variant="paper", context_window=7, learning_rate=0.01, momentum=0.9,
               num_starts=4, max_iterations=1500, blend=True, blend_iterations=500,
               epsilon=0.0, name=None):
    """Builds the inpainter around trained Keras models.

    Args:
      generator: keras.Model z [N, z_dim] -> image [N, H, W, C] in [-1, 1].
      discriminator: keras.Model image -> logit [N, 1] (pre-sigmoid).
      classifier_endpoints: keras.Model image -> dict {layer name: activation, ...,
        "logits": [N, K]} (googlenet.endpoints); required for presets "semantic" and
        "full". With it, the semantic and categorical losses are traced for every preset;
        without it they are absent from the traces.
      z_dim: latent size.
      image_shape: (H, W, C) of the generator output and of the images to inpaint.
      preset: "yeh" (context + prior), "semantic" (+ inpainting + semantic) or "full"
        (+ categorical), see losses.PRESETS.
      weights: dict overriding losses.paper_weights("center"): lambda_c, lambda_p,
        lambda_inp, lambda_sem, lambda_cat, layers ({endpoint name: w_l}).
      context_norm: "l1" (reference code) or "l2" (the paper's squared norm).
      prior_variant: "paper" (log(1 - D)) or "nonsaturating" (-log D); used for both
        discriminator terms (prior and inpainting).
      context_window: odd window of Yeh's context weighting W.
      learning_rate, momentum: Nesterov momentum parameters (paper: 0.01, 0.9).
      num_starts: random starts per image; the lowest final objective wins.
      max_iterations: upper bound for the `iterations` argument of `inpaint`.
      blend: Poisson-blend the fill (True) or paste it (False).
      blend_iterations: maximum conjugate-gradient iterations of the Poisson solve.
      epsilon: a start stops updating once ||grad_z|| < epsilon (0 = never).
      name: tf.Module name.
    """
    super().__init__(name=name)
    if preset not in losses.PRESETS:
      raise InputError(f"unknown preset {preset!r}; expected one of {', '.join(losses.PRESETS)}")
    if context_norm not in ("l1", "l2"):
      raise InputError(f"context norm must be 'l1' or 'l2', got {context_norm!r}")
    if prior_variant not in ("paper", "nonsaturating"):
      raise InputError(f"prior variant must be 'paper' or 'nonsaturating', got {prior_variant!r}")
    if classifier_endpoints is None and preset != "yeh":
      raise InputError(f"preset {preset!r} needs a classifier (only 'yeh' works without one)")
    if int(num_starts) < 1 or int(max_iterations) < 0:
      raise InputError("num_starts must be >= 1 and max_iterations >= 0")
    if int(context_window) < 1 or int(context_window) % 2 != 1 or (
        int(context_window) // 2 > min(int(image_shape[0]), int(image_shape[1]))):
      raise InputError(f"context window must be odd and at most twice the image size plus one, "
                       f"got {context_window}")
    self.generator = generator
    self.discriminator = discriminator
    self.classifier = classifier_endpoints
    self.z_dim = int(z_dim)
    self.image_shape = tuple(int(s) for s in image_shape)
    self.preset = preset
    weights = _merge_weights(weights)
    # Plain values only: tf.Module wraps dict attributes into trackable containers.
    self._lambda = tuple((term, weights[key]) for term, key in _LAMBDA.items())
    self.layer_weights = tuple((k, w) for k, w in weights["layers"].items() if w)
    self.context_norm = context_norm
    self.prior_variant = prior_variant
    self.context_window = int(context_window)
    self.learning_rate = float(learning_rate)
    self.momentum = float(momentum)
    self.num_starts = int(num_starts)
    self.max_iterations = int(max_iterations)
    self.blend = bool(blend)
    self.blend_iterations = int(blend_iterations)
    self.epsilon = float(epsilon)
    self.terms = losses.TERMS if classifier_endpoints is not None else losses.TERMS[:3]
    self._check_models()
    self._config_json = json.dumps(dict(
        z_dim=self.z_dim, image_shape=list(self.image_shape), preset=self.preset,
        weights=weights, context_norm=self.context_norm, prior_variant=self.prior_variant,
        context_window=self.context_window, learning_rate=self.learning_rate,
        momentum=self.momentum, num_starts=self.num_starts, max_iterations=self.max_iterations,
        blend=self.blend, blend_iterations=self.blend_iterations, epsilon=self.epsilon),
        indent=2, sort_keys=True)

    h, w, c = self.image_shape
    self.inpaint = tf.function(self._inpaint, input_signature=[
        tf.TensorSpec([None, h, w, c], tf.float32, name="image"),
        tf.TensorSpec([None, h, w, 1], tf.float32, name="mask"),
        tf.TensorSpec([], tf.int32, name="iterations"),
        tf.TensorSpec([], tf.int32, name="seed"),
    ])

  def config(self):
    """The keyword arguments (all but the models) that rebuild this inpainter, JSON-able."""
    return json.loads(self._config_json)

  def get_config(self):
    """Same as `config()`, under the name ClassifierInpainter uses."""
    return self.config()

  def config_json(self):
    """`config()` as JSON text (for model cards and logs)."""
    return self._config_json

  def _check_models(self):
    """One forward pass on a single zero input, so wiring mistakes fail here, clearly."""
    image = self.generator(tf.zeros([1, self.z_dim]), training=False)
    if tuple(image.shape[1:]) != self.image_shape:
      raise InputError(f"generator makes images of shape {tuple(image.shape[1:])}, "
                       f"expected {self.image_shape}")
    logit = self.discriminator(image, training=False)
    if int(tf.size(logit)) != 1:
      raise InputError(f"discriminator must return one logit per image, got {logit.shape}")
    if self.classifier is not None:
      out = self.classifier(image, training=False)
      if not isinstance(out, dict):
        raise InputError("classifier_endpoints must return a dict of named activations")
      missing = [k for k, _ in self.layer_weights if k not in out] + (
          [] if "logits" in out else ["logits"])
      if missing:
        raise InputError(f"classifier endpoints lack {', '.join(missing)}; "
                         f"it has {', '.join(sorted(out))}")

  def loss_terms(self, z, image, mask, context_weights=None):
    """Weighted loss terms per row, and the preset's objective.

    Args:
      z: [R, z_dim].
      image: [R, H, W, C] in [-1, 1].
      mask: [R, H, W, 1], 1 = known.
      context_weights: [R, H, W, 1] W (computed from mask when None).

    Returns:
      (objective [R], dict term -> lambda * term [R], generated [R, H, W, C]).
    """
    if context_weights is None:
      context_weights = losses.context_weights(mask, self.context_window)
    lam = dict(self._lambda)
    g = self.generator(z, training=False)
    blended = mask * image + (1.0 - mask) * g
    both = tf.concat([g, blended], axis=0)
    rows = tf.shape(z)[0]
    d_logits = tf.reshape(self.discriminator(both, training=False), [-1])
    terms = {
        "context": lam["context"] * losses.context_loss(
            g, image, mask, context_weights, self.context_norm),
        "prior": lam["prior"] * losses.prior_loss(d_logits[:rows], self.prior_variant),
        "inpainting": lam["inpainting"] * losses.inpainting_loss(
            d_logits[rows:], self.prior_variant),
    }
    if self.classifier is not None:
      feats = self.classifier(both, training=False)
      feat_g = {k: v[:rows] for k, v in feats.items()}
      feat_b = {k: v[rows:] for k, v in feats.items()}
      terms["semantic"] = lam["semantic"] * losses.semantic_loss(
          feat_g, feat_b, dict(self.layer_weights))
      terms["categorical"] = lam["categorical"] * losses.categorical_loss(
          feat_g["logits"], feat_b["logits"])
    objective = tf.add_n([terms[t] for t in losses.PRESETS[self.preset]])
    return objective, terms, g

  def _inpaint(self, image, mask, iterations, seed):
    """Inpaints a batch.

    Args:
      image: [N, H, W, C] in [-1, 1] (hole values are ignored).
      mask: [N, H, W, 1], 1 = known, 0 = fill.
      iterations: int32 scalar, clamped to [0, max_iterations].
      seed: int32 scalar; the random starts depend on it alone.

    Returns:
      dict(
        inpainted [N, H, W, C] in [-1, 1]: the known pixels with the (blended) fill,
        generated [N, H, W, C]: G(z_hat),
        z [N, z_dim]: z_hat,
        loss [N]: the preset's weighted objective at z_hat,
        losses: {term: [N, T + 1]} weighted terms (lambda * L) of the chosen start at
          z_0 ... z_T, T = iterations run; all terms are traced whether optimised or not,
        iterations [N] int32: update steps the chosen start made before it stopped).
    """
    s = self.num_starts
    n = tf.shape(image)[0]
    rows = n * s
    iterations = tf.clip_by_value(iterations, 0, self.max_iterations)
    mask = masks.binarize(mask)  # the same known pixels as the blend and the other inpainter
    image = mask * tf.where(tf.math.is_finite(image), image, 0.0)  # hole values never matter
    image_r = _rows(image, s)
    mask_r = _rows(mask, s)
    weights_r = _rows(losses.context_weights(mask, self.context_window), s)

    z0 = tf.random.stateless_uniform([s, self.z_dim], tf.stack([seed, 0]), -1.0, 1.0)
    z0 = tf.tile(z0, tf.stack([n, 1]))  # row n * S + s gets start s for every image n.

    def evaluate(z):
      with tf.GradientTape() as tape:
        tape.watch(z)
        objective, terms, _ = self.loss_terms(z, image_r, mask_r, weights_r)
        total = tf.reduce_sum(objective)  # rows do not interact: d total / d z_r = d obj_r / d z_r
      return objective, terms, tape.gradient(total, z)

    traces = [tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None])
              for _ in self.terms]

    def cond(i, z, v, done, steps, traces):
      return tf.logical_and(i < iterations, tf.logical_not(tf.reduce_all(done)))

    def body(i, z, v, done, steps, traces):
      _, terms, grad = evaluate(z)
      traces = [ta.write(i, terms[t]) for ta, t in zip(traces, self.terms)]
      done = tf.logical_or(done, tf.norm(grad, axis=1) < self.epsilon)
      z_new, v_new = optimizers.nesterov_step(z, v, grad, self.learning_rate, self.momentum)
      z_new = tf.clip_by_value(z_new, -1.0, 1.0)
      move = tf.logical_not(done)[:, None]
      z = tf.where(move, z_new, z)
      v = tf.where(move, v_new, v)
      steps = steps + tf.cast(tf.logical_not(done), tf.int32)
      return i + 1, z, v, done, steps, traces

    i, z, _, _, steps, traces = tf.while_loop(
        cond, body,
        (tf.constant(0), z0, tf.zeros_like(z0), tf.zeros([rows], tf.bool),
         tf.zeros([rows], tf.int32), traces))

    objective, terms, g = self.loss_terms(z, image_r, mask_r, weights_r)
    traces = [ta.write(i, terms[t]) for ta, t in zip(traces, self.terms)]

    # Per image, the start with the lowest final objective.
    best = tf.argmin(tf.reshape(objective, [n, s]), axis=1, output_type=tf.int32)
    pick = tf.range(n) * s + best

    generated = tf.gather(g, pick)
    # [i + 1, rows] -> [iterations + 1, rows]: after an early stop (epsilon) the final values
    # are held, so the traces' length never depends on what else is in the batch.
    out_losses = {t: tf.transpose(tf.gather(_hold_last(ta.stack(), iterations + 1), pick, axis=1))
                  for ta, t in zip(traces, self.terms)}
    if self.blend:
      filled = blending.poisson_blend(generated, image, mask, self.blend_iterations)
    else:
      filled = generated
    inpainted = tf.clip_by_value(mask * image + (1.0 - mask) * filled, -1.0, 1.0)
    return dict(inpainted=inpainted, generated=generated, z=tf.gather(z, pick),
                loss=tf.gather(objective, pick), losses=out_losses,
                iterations=tf.gather(steps, pick))


# ---------------------------------------------------------------------------------------------
# networks/ and SavedModel export (the shared helpers of tfinpaint.export, as the
# classifier-guided inpainter uses them).
# ---------------------------------------------------------------------------------------------


def save_networks(inpainter, base_dir, overwrite=True, serving_iterations=None):
  """Writes `<base_dir>/networks/`: generator.keras, discriminator.keras, [classifier.keras],
  inpainter.json (kind "semantic" + `inpainter.config()` + the serving_default iteration
  count, so the CLIs run what the server runs)."""
  models = {"generator": inpainter.generator, "discriminator": inpainter.discriminator}
  if inpainter.classifier is not None:
    models["classifier"] = inpainter.classifier
  return export_lib.write_networks(base_dir, models=models,
                                   config=dict(kind=KIND, config=inpainter.config(),
                                               serving_iterations=serving_iterations),
                                   overwrite=overwrite)


def load_networks(path, custom_objects=None, **overrides):
  """Rebuilds the SemanticInpainter saved by save_networks (path: base dir or networks/).

  `overrides` replace constructor arguments (preset, max_iterations, ...); a `weights`
  override is merged into the exported weights rather than replacing them.
  """
  # Registers googlenet's custom layers, which classifier.keras may contain.
  importlib.import_module("tfinpaint.models.googlenet")
  models, config, _ = export_lib.read_networks(path, custom_objects, kind=KIND)
  kwargs = dict(config["config"])
  weights = overrides.pop("weights", None)
  if weights:
    kwargs["weights"] = dict(kwargs["weights"], **weights)
  kwargs.update(overrides)
  return SemanticInpainter(models["generator"], models["discriminator"],
                           models.get("classifier"), **kwargs)


def export(inpainter, base_dir, version, *, iterations=None, max_iterations=None, seed=0,
           overwrite=False):
  """Writes the inpainter as `<base_dir>/<version>/` for TF Serving.

  Signatures (images in [0, 1] at this boundary):
    serving_default(image [N,H,W,C], mask [N,H,W,1]) with `iterations` and `seed` fixed here;
    inpaint_with_options(image, mask, iterations int32 scalar, seed int32 scalar) with
      iterations clamped to `max_iterations`.
  Outputs: inpainted and generated in [0, 1], z [N, z_dim], loss [N], iterations [N], and one
  trace per traced term, loss_<term> [N, T + 1] (see SemanticInpainter.inpaint).

  Args:
    inpainter: a SemanticInpainter.
    base_dir: exported/<name>.
    version: positive int.
    iterations: iterations of serving_default (default: the cap).
    max_iterations: cap of inpaint_with_options (default and upper bound:
      inpainter.max_iterations).
    seed: seed of serving_default.
    overwrite: replace an existing version.
  Returns:
    The version directory.
  """
  def run(image, mask, iters, seed_):
    image, mask = export_lib.validate_inputs(image, mask, inpainter.image_shape)
    out = inpainter.inpaint(images.to_signed(image), mask, iters, seed_)
    flat = {k: v for k, v in out.items() if k != "losses"}
    flat.update({f"loss_{term}": trace for term, trace in out["losses"].items()})
    flat["inpainted"] = images.to_unit(out["inpainted"])
    flat["generated"] = images.to_unit(out["generated"])
    return flat

  specs = [tf.TensorSpec(None, tf.float32, name="image"),
           tf.TensorSpec(None, tf.float32, name="mask")]
  models = [inpainter.generator, inpainter.discriminator]
  if inpainter.classifier is not None:
    models.append(inpainter.classifier)
  return export_lib.write_inpainter(
      base_dir, version, run=run, input_specs=specs, models=models,
      module_max=inpainter.max_iterations, iterations=iterations, max_iterations=max_iterations,
      seed=seed, overwrite=overwrite)
