"""Semantic inpainting (paper 000): search the DCGAN latent space, guided by a classifier.

`SemanticInpainter` implements the Inpainter contract (tfinpaint.inpainting.base): the whole
optimisation is one tf.while_loop around a GradientTape whose state is loop tensors, so it
exports to a SavedModel that TF Serving runs, and a request's result does not depend on the
other requests batched with it. Nothing here writes a variable.

Procedure (paper 000 Sections 2-3, Yeh et al. 2017):
  * S random starts z0 ~ U[-1, 1]^z_dim per image, drawn from `seed` alone, so every image of a
    batch gets the same starts;
  * minimise lambda_c L_c + lambda_p L_p [+ lambda_inp L_inp + lambda_sem L_sem
    [+ lambda_cat L_cat]] (the preset chooses the terms, one signature per preset) by Nesterov
    momentum, z clipped to [-1, 1] after every step; networks run with training=False;
  * a start stops moving once ||grad_z|| < epsilon (epsilon = 0 never stops);
  * per image the start with the lowest final objective wins, and G(z_hat) is Poisson-blended
    into the known pixels.

Masks with many boundary pixels (paper 000, Section 3): "images with random masked regions have
more pixels near the holes which resulted in higher context loss", so the paper multiplies
lambda_inp, lambda_sem and lambda_cat by 10 for random masks. Here the rule is computed in the
graph from the mask itself, per image, so every caller applies it alike: when the mean of Yeh's
context weight W over the known pixels (the fraction of missing pixels in the 7x7 window around
each known pixel) exceeds `boundary_threshold` (0.5), those three weights are multiplied by
`boundary_scale` (10). A centre or left hole scores about 0.1, an 80 % random mask about 0.8.
The `weight_scale` output says which factor each image got.
"""

import dataclasses

import tensorflow as tf

from tfinpaint import masks
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base, blending, losses, optimizers

_TERM_WEIGHT = {"context": "lambda_c", "prior": "lambda_p", "inpainting": "lambda_inp",
                "semantic": "lambda_sem", "categorical": "lambda_cat"}
_SCALED = ("inpainting", "semantic", "categorical")  # the weights the boundary rule scales


@dataclasses.dataclass(frozen=True)
class SemanticConfig:
  """What fixes a SemanticInpainter: shapes, caps, and the default of every request option."""
  image_shape: tuple
  z_dim: int
  class_names: tuple = ()
  preset: str = "full"  # the preset of serving_default
  iterations: int = 300
  max_iterations: int = 1500
  seed: int = 0
  lambda_c: float = 1.0
  lambda_p: float = 0.003
  lambda_inp: float = 3.0
  lambda_sem: float = 1e5
  lambda_cat: float = 1e6
  layers: dict = dataclasses.field(default_factory=lambda: dict(losses.PAPER_LAYERS))
  context_norm: str = "l1"
  prior_variant: str = "paper"
  context_window: int = 7
  learning_rate: float = 0.01
  momentum: float = 0.9
  num_starts: int = 4
  max_starts: int = 16
  epsilon: float = 0.0
  patience: int = 0  # stop a start after this many iterations without improvement (0 = never)
  tolerance: float = 1e-3
  blend: bool = True
  blend_iterations: int = 500
  boundary_scale: float = 10.0
  boundary_threshold: float = 0.5
  block_rows: int = 8  # rows (images x starts) per block of the search (see base.in_blocks)


def _rows(x, starts):
  """[N, ...] -> [N * S, ...], row n * S + s is image n."""
  return tf.repeat(x, starts, axis=0)


def _hold_last(trace, length):
  """Pads a [T, R] trace to [length, R] (length >= T) by repeating its last row."""
  return tf.concat([trace, tf.repeat(trace[-1:], length - tf.shape(trace)[0], axis=0)], axis=0)


def boundary_ratio(mask, window=7):
  """Per image, the mean context weight W of the known pixels (see the module docstring) -> [N]."""
  known = masks.binarize(mask)
  w = losses.context_weights(known, window)
  return tf.reduce_sum(w, axis=[1, 2, 3]) / tf.maximum(tf.reduce_sum(known, axis=[1, 2, 3]), 1.0)


@base.register
class SemanticInpainter(base.Inpainter):
  """Latent-space inpainting with context, prior, inpainting, semantic and categorical losses.

    inpainter = SemanticInpainter({"generator": g, "discriminator": d, "classifier": c},
                                  SemanticConfig((64, 64, 3), z_dim=100))
    out = inpainter.function("full")(image=x01, mask=m)

  Signatures (images in [0, 1]): one per preset, `yeh`, `semantic`, `full` (the last two need
  the classifier), and `serving_default` = the config's preset; inputs image [N,H,W,C],
  mask [N,H,W,1] (1 = known) and the options (scalars, default = the config's value):
  iterations (clamped to [0, max_iterations]), seed, lambda_c, lambda_p, lambda_inp, lambda_sem,
  lambda_cat (the large-hole weights; see the boundary rule), learning_rate, momentum,
  num_starts (clamped to [1, max_starts]), epsilon, boundary_scale.
  Outputs: inpainted (Poisson-blended) and generated G(z_hat) [N,H,W,C]; z [N,z_dim]; loss [N]
  (the preset's objective); loss_<term> [N,T+1] weighted terms at z_0..z_T (terms the preset
  does not optimise trace as 0 unless trace_all=1: Figure 3); iterations [N] (steps the chosen
  start made); weight_scale [N].
  """

  KIND = "semantic"
  Config = SemanticConfig
  NETWORKS = ("generator", "discriminator")
  OPTIONAL_NETWORKS = ("classifier",)
  METHODS = {p: (p, {}) for p in losses.PRESETS}

  def __init__(self, networks, config, arrays=None):
    super().__init__(networks, config, arrays)
    c = config
    if c.preset not in losses.PRESETS:
      raise InputError(f"unknown preset {c.preset!r}; expected one of {', '.join(losses.PRESETS)}")
    if c.context_norm not in ("l1", "l2"):
      raise InputError(f"context norm must be 'l1' or 'l2', got {c.context_norm!r}")
    if c.prior_variant not in ("paper", "nonsaturating"):
      raise InputError(f"prior variant must be 'paper' or 'nonsaturating', got {c.prior_variant!r}")
    self.generator = networks["generator"]
    self.discriminator = networks["discriminator"]
    self.classifier = networks.get("classifier")
    if self.classifier is None and c.preset != "yeh":
      raise InputError(f"preset {c.preset!r} needs a classifier (only 'yeh' works without one)")
    if not 1 <= c.num_starts <= c.max_starts or not 0 <= c.iterations <= c.max_iterations:
      raise InputError("need 1 <= num_starts <= max_starts and 0 <= iterations <= max_iterations")
    h, w, _ = self.image_shape
    if c.context_window < 1 or c.context_window % 2 != 1 or c.context_window // 2 > min(h, w):
      raise InputError(f"context window must be odd and at most twice the image size plus one, "
                       f"got {c.context_window}")
    self.layer_weights = tuple((k, float(v)) for k, v in c.layers.items() if v)
    self.terms = losses.TERMS if self.classifier is not None else losses.TERMS[:3]
    self._check_models()

  def _check_models(self):
    """One forward pass on a single zero input, so wiring mistakes fail here, clearly."""
    image = self.generator(tf.zeros([1, self.config.z_dim]), training=False)
    if tuple(image.shape[1:]) != self.image_shape:
      raise InputError(f"generator makes images of shape {tuple(image.shape[1:])}, "
                       f"expected {self.image_shape}")
    logit = self.discriminator(image, training=False)
    if int(tf.size(logit)) != 1:
      raise InputError(f"discriminator must return one logit per image, got {logit.shape}")
    if self.classifier is not None:
      out = self.classifier(image, training=False)
      if not isinstance(out, dict):
        raise InputError("the classifier must return a dict of named activations")
      missing = [k for k, _ in self.layer_weights if k not in out] + (
          [] if "logits" in out else ["logits"])
      if missing:
        raise InputError(f"classifier endpoints lack {', '.join(missing)}; "
                         f"it has {', '.join(sorted(out))}")

  # -- the contract ---------------------------------------------------------------------------

  @property
  def default_method(self):
    return self.config.preset

  def presets(self):
    return tuple(p for p in losses.PRESETS if self.classifier is not None or p == "yeh")

  def options(self):
    c, f32, i32 = self.config, tf.float32, tf.int32
    weights = tuple(base.Option(key, f32, getattr(c, key), 0.0, 1e9,
                                help=f"{term} loss weight (large holes; see the boundary rule)")
                    for term, key in _TERM_WEIGHT.items())
    return (
        base.Option("iterations", i32, c.iterations, 0, c.max_iterations, clamp=True,
                    help=f"Nesterov steps on z, clipped to [0, {c.max_iterations}]"),
        base.Option("seed", i32, c.seed, help="seed of the random starts"),
        *weights,
        base.Option("learning_rate", f32, c.learning_rate, 1e-8, 10.0, help="Nesterov rate"),
        base.Option("momentum", f32, c.momentum, 0.0, 0.999, help="Nesterov momentum"),
        base.Option("num_starts", i32, c.num_starts, 1, c.max_starts, clamp=True,
                    help=f"random starts per image, the best kept; clipped to [1, "
                         f"{c.max_starts}]"),
        base.Option("epsilon", f32, c.epsilon, 0.0, 1e6,
                    help="a start stops when ||grad z|| is below this (0 = never)"),
        base.Option("boundary_scale", f32, c.boundary_scale, 0.0, 1e6,
                    help="factor on lambda_inp/sem/cat for masks with many boundary pixels"),
        base.Option("trace_all", i32, 0, 0, 1,
                    help="1: trace every loss term, also those the preset does not optimise "
                         "(Figure 3); 0: those trace as 0 and their networks are not run"),
        *base.plateau_options(c.patience, c.tolerance),
    )

  def signatures(self):
    h, w, c = self.image_shape
    inputs = (tf.TensorSpec([None, h, w, c], tf.float32, name="image"),
              tf.TensorSpec([None, h, w, 1], tf.float32, name="mask"))
    options = self.options()
    docs = {"yeh": "context + prior (Yeh et al.)",
            "semantic": "+ inpainting + semantic losses (paper 000, w/o logits)",
            "full": "+ categorical loss (paper 000, with logits)"}

    def make(preset):
      return lambda x, opts: self.inpaint(x["image"], x["mask"], opts, preset)

    sigs = {p: base.Signature(p, inputs, options, make(p), docs[p],
                              image_outputs=("inpainted", "generated"))
            for p in self.presets()}
    default = self.config.preset
    sigs["serving_default"] = dataclasses.replace(sigs[default], name="serving_default",
                                                  doc=f"the {default} preset")
    return sigs

  # -- losses and the step --------------------------------------------------------------------

  def term_weights(self, mask, opts):
    """{term: per-image weight [N]} after the boundary rule, and the factor [N] it applied."""
    scale = tf.where(boundary_ratio(mask, self.config.context_window)
                     > self.config.boundary_threshold, opts["boundary_scale"], 1.0)
    weights = {t: opts[key] * (scale if t in _SCALED else tf.ones_like(scale))
               for t, key in _TERM_WEIGHT.items()}
    return weights, scale

  def loss_terms(self, z, rows, needed=None):
    """Weighted loss terms per row.

    Args:
      z: [R, z_dim].
      rows: dict(image [R,H,W,C] in [-1, 1], mask [R,H,W,1] binary, context [R,H,W,1] Yeh's
        W, weights {term: [R]}).
      needed: the terms to compute (default: all the model has). The descent asks only for its
        preset's: `yeh` then runs neither the classifier nor the discriminator on y'.
    Returns:
      (dict term -> weight * term [R], generated [R, H, W, C]).
    """
    needed = set(self.terms if needed is None else needed)
    image, mask, lam = rows["image"], rows["mask"], rows["weights"]
    g = self.generator(z, training=False)
    count = tf.shape(z)[0]
    terms = {"context": lam["context"] * losses.context_loss(g, image, mask, rows["context"],
                                                             self.config.context_norm)}
    if not needed & {"inpainting", "semantic", "categorical"}:
      d_logits = tf.reshape(self.discriminator(g, training=False), [-1])
      terms["prior"] = lam["prior"] * losses.prior_loss(d_logits, self.config.prior_variant)
      return terms, g
    blended = masks.composite(image, g, mask)
    both = tf.concat([g, blended], axis=0)
    d_logits = tf.reshape(self.discriminator(both, training=False), [-1])
    terms["prior"] = lam["prior"] * losses.prior_loss(d_logits[:count], self.config.prior_variant)
    terms["inpainting"] = lam["inpainting"] * losses.inpainting_loss(d_logits[count:],
                                                                     self.config.prior_variant)
    if self.classifier is not None and needed & {"semantic", "categorical"}:
      feats = self.classifier(both, training=False)
      feat_g = {k: v[:count] for k, v in feats.items()}
      feat_b = {k: v[count:] for k, v in feats.items()}
      terms["semantic"] = lam["semantic"] * losses.semantic_loss(feat_g, feat_b,
                                                                 dict(self.layer_weights))
      terms["categorical"] = lam["categorical"] * losses.categorical_loss(feat_g["logits"],
                                                                          feat_b["logits"])
    return terms, g

  def step(self, z, v, rows, opts, preset):
    """One Nesterov step on z, the only place the update is written.

    Returns:
      (z_new, v_new, ||grad z|| [R], weighted terms at z {term: [R]}).
    """
    with tf.GradientTape() as tape:
      tape.watch(z)
      terms, _ = self.loss_terms(z, rows, losses.PRESETS[preset])
      # rows do not interact: d sum / d z_r = d objective_r / d z_r.
      total = tf.reduce_sum(tf.add_n([terms[t] for t in losses.PRESETS[preset]]))
    grad = tape.gradient(total, z)
    grad = tf.where(tf.math.is_finite(grad), grad, 0.0)
    z_new, v_new = optimizers.nesterov_step(z, v, grad, opts["learning_rate"], opts["momentum"])
    return tf.clip_by_value(z_new, -1.0, 1.0), v_new, tf.norm(grad, axis=1), terms

  def problem(self, image, mask, opts):
    """The fixed data of the rows of a search: image, binary mask, Yeh's W and the weighted
    terms' weights per row (the boundary rule applied to each row's own mask)."""
    mask = masks.binarize(mask)  # the same known pixels as the blend and the other inpainter
    image = masks.composite(tf.where(tf.math.is_finite(image), image, 0.0), 0.0, mask)
    weights, scale = self.term_weights(mask, opts)
    return dict(image=image, mask=mask, weights=weights, scale=scale,
                context=losses.context_weights(mask, self.config.context_window))

  def starts(self, n, opts):
    """z0 [n * S, z_dim]: row n * S + s is start s of image n; every image gets the same S
    starts, drawn from the seed alone."""
    s = opts["num_starts"]
    z0 = tf.random.stateless_uniform(tf.stack([s, self.config.z_dim]), tf.stack([opts["seed"], 0]),
                                     -1.0, 1.0)
    return tf.tile(z0, tf.stack([n, 1]))

  def _search_block(self, image, mask, z0, opts, preset):
    """Nesterov descent of one block of rows from their starts; the rows' final terms."""
    rows = self.problem(image, mask, opts)
    iterations = opts["iterations"]
    count = tf.shape(z0)[0]

    def cond(i, z, v, done, steps, traces, best, last):
      return tf.logical_and(i < iterations, tf.logical_not(tf.reduce_all(done)))

    def body(i, z, v, done, steps, traces, best, last):
      z_new, v_new, gnorm, terms = self.step(z, v, rows, opts, preset)
      unused = [t for t in self.terms if t not in terms]
      if unused:  # traced for Figure 3 only when asked: they cost the networks yeh skips
        extra = tf.cond(opts["trace_all"] > 0,
                        lambda: [self.loss_terms(z, rows)[0][t] for t in unused],
                        lambda: [tf.zeros_like(terms["context"]) for _ in unused])
        terms = dict(terms, **dict(zip(unused, extra)))
      traces = [ta.write(i, terms[t]) for ta, t in zip(traces, self.terms)]
      objective = tf.add_n([terms[t] for t in losses.PRESETS[preset]])
      best, last, stalled = base.plateau(objective, best, last, i, opts["patience"],
                                         opts["tolerance"])
      done = done | (gnorm < opts["epsilon"]) | stalled
      move = tf.logical_not(done)[:, None]
      z, v = tf.where(move, z_new, z), tf.where(move, v_new, v)
      return (i + 1, z, v, done, steps + tf.cast(tf.logical_not(done), tf.int32), traces, best,
              last)

    traces = [tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None])
              for _ in self.terms]
    i, z, _, _, steps, traces, _, _ = tf.while_loop(
        cond, body, (tf.constant(0), z0, tf.zeros_like(z0), tf.zeros([count], tf.bool),
                     tf.zeros([count], tf.int32), traces, tf.fill([count], float("inf")),
                     tf.zeros([count], tf.int32)))
    terms, g = self.loss_terms(z, rows)
    traces = [ta.write(i, terms[t]) for ta, t in zip(traces, self.terms)]
    out = dict(z=z, generated=g, iterations=steps, scale=rows["scale"],
               objective=tf.add_n([terms[t] for t in losses.PRESETS[preset]]))
    # [i + 1, rows] -> [iterations + 1, rows]: after an early stop (epsilon) the final values
    # are held, so the traces' length never depends on what else is in the batch.
    for ta, t in zip(traces, self.terms):
      out[f"loss_{t}"] = tf.transpose(_hold_last(ta.stack(), iterations + 1))
    return out

  def inpaint(self, image, mask, options=None, preset=None):
    """Inpaints a batch in [-1, 1] (the signatures' work after validation).

    Args:
      image: [N, H, W, C] in [-1, 1] (hole values are ignored).
      mask: [N, H, W, 1], 1 = known, 0 = fill.
      options: {option: value} over the config defaults (see `options()`).
      preset: "yeh", "semantic" or "full" (default: the config's).
    Returns:
      the outputs listed in the class docstring (loss traces as loss_<term>), images in [-1, 1].
    """
    preset = preset or self.config.preset
    if preset not in self.presets():
      raise InputError(f"preset {preset!r} is not available; this model has "
                       f"{', '.join(self.presets())}")
    opts = self.resolve(options)
    s = opts["num_starts"]
    image = tf.convert_to_tensor(image, tf.float32)
    n = tf.shape(image)[0]
    mask = masks.binarize(mask)
    image = masks.composite(tf.where(tf.math.is_finite(image), image, 0.0), 0.0, mask)
    h, w, c = self.image_shape
    block, f32 = self.config.block_rows, tf.float32
    signature = dict(z=tf.TensorSpec([block, self.config.z_dim], f32),
                     generated=tf.TensorSpec([block, h, w, c], f32),
                     iterations=tf.TensorSpec([block], tf.int32),
                     scale=tf.TensorSpec([block], f32), objective=tf.TensorSpec([block], f32),
                     **{f"loss_{t}": tf.TensorSpec([block, None], f32) for t in self.terms})
    # Rows in fixed-size blocks (base.in_blocks): a row's result does not depend on its batch.
    # Filler rows have nothing to fill (mask all known).
    rows = base.in_blocks(lambda blk: self._search_block(*blk, opts, preset),
                          (_rows(image, s), _rows(mask, s), self.starts(n, opts)),
                          (0.0, 1.0, 0.0), block, signature)
    # Per image, the start with the lowest final objective.
    best = tf.argmin(tf.reshape(rows["objective"], tf.stack([n, s])), axis=1,
                     output_type=tf.int32)
    pick = tf.range(n) * s + best
    generated = tf.gather(rows["generated"], pick)
    if self.config.blend:
      filled = blending.poisson_blend(generated, image, mask, self.config.blend_iterations)
    else:
      filled = generated
    out = dict(inpainted=tf.clip_by_value(masks.composite(image, filled, mask), -1.0, 1.0),
               generated=generated, z=tf.gather(rows["z"], pick),
               loss=tf.gather(rows["objective"], pick), iterations=tf.gather(rows["iterations"],
                                                                             pick),
               weight_scale=tf.gather(rows["scale"], pick))
    out.update({k: tf.gather(v, pick) for k, v in rows.items() if k.startswith("loss_")})
    return out
