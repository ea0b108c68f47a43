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

import numpy as np
import tensorflow as tf

from tfinpaint import config
from tfinpaint import masks
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base, blending, losses, optimizers

_TERM_WEIGHT = {"context": "lambda_c", "prior": "lambda_p", "inpainting": "lambda_inp",
                "semantic": "lambda_sem", "categorical": "lambda_cat"}
_SCALED = ("inpainting", "semantic", "categorical")  # the weights the boundary rule scales
PRESETS = tuple(losses.PRESETS)


@dataclasses.dataclass(frozen=True)
class SemanticConfig(config.Config):
  """What fixes a SemanticInpainter: shapes, caps, and the default of every request option.

  image_shape, z_dim and class_names come from the trained networks (`assemble`); the option
  fields are each option's only default, help text and range (paper 000, Section 3: lambda_p
  0.003, lambda_inp 3, lambda_sem 1e5, lambda_cat 1e6, w_l = 1 for inception 3b and 4b).
  """
  image_shape: tuple[int, ...] = config.field((64, 64, 3), help="image shape (H, W, C)",
                                              derived=True)
  z_dim: int = config.field(100, help="the generator's latent size", low=1, derived=True)
  class_names: tuple[str, ...] = config.field((), help="names of the classifier's classes",
                                              derived=True)
  preset: str = config.field("full", help="the preset of serving_default", choices=PRESETS)
  iterations: int = config.field(300, help="Nesterov steps on z of a request (clipped to "
                                 "max_iterations)", low=0, high=10**6)
  max_iterations: int = config.field(1500, help="no request runs more iterations", low=1,
                                     high=10**6)
  seed: int = config.field(0, help="seed of the random starts", low=0, high=2**31 - 1)
  lambda_c: float = config.field(1.0, help="context loss weight", low=0.0, high=1e9)
  lambda_p: float = config.field(0.003, help="prior loss weight (paper 0.003)", low=0.0,
                                 high=1e9)
  lambda_inp: float = config.field(3.0, help="inpainting loss weight (large holes; see the "
                                   "boundary rule)", low=0.0, high=1e9)
  lambda_sem: float = config.field(1e5, help="semantic loss weight (large holes)", low=0.0,
                                   high=1e9)
  lambda_cat: float = config.field(1e6, help="categorical loss weight (large holes)", low=0.0,
                                   high=1e9)
  layers: dict[str, float] = config.field(factory=lambda: dict(losses.PAPER_LAYERS),
                                          help="weights w_l of the classifier's endpoints in "
                                          "the semantic loss")
  context_norm: str = config.field("l1", help="norm of the context loss (the paper writes l2; "
                                   "Yeh et al.'s code uses l1)", choices=("l1", "l2"))
  prior_variant: str = config.field("paper", help="log(1 - D) (paper) or -log D "
                                    "(nonsaturating)", choices=("paper", "nonsaturating"))
  context_window: int = config.field(7, help="window of Yeh et al.'s context weights (odd)",
                                     low=1, high=99)
  learning_rate: float = config.field(0.01, help="Nesterov learning rate on z", low=1e-8,
                                      high=10.0)
  momentum: float = config.field(0.9, help="Nesterov momentum on z", low=0.0, high=0.999)
  num_starts: int = config.field(4, help="random starts of z per image; the best is kept "
                                 "(clipped to max_starts)", low=1, high=64)
  max_starts: int = config.field(16, help="no request runs more starts", low=1, high=64)
  epsilon: float = config.field(0.0, help="a start stops when ||grad z|| is below this (0 = "
                                "never)", low=0.0, high=1e6)
  patience: int = config.field(0, help="stop a start after this many iterations without "
                               "improvement of its objective (0 = never)", low=0, high=10**6)
  tolerance: float = config.field(1e-3, help="relative improvement that counts for patience",
                                  low=0.0, high=1.0)
  blend: bool = config.field(True, help="Poisson-blend G(z) into the known pixels")
  blend_iterations: int = config.field(500, help="Jacobi sweeps of the Poisson blend", low=1,
                                       high=10**5)
  boundary_scale: float = config.field(10.0, help="factor on lambda_inp/sem/cat for masks "
                                       "with many boundary pixels (paper: 10 for random masks; "
                                       "1 = off)", low=0.0, high=1e6)
  boundary_threshold: float = config.field(0.5, help="mean context weight of the known pixels "
                                           "above which the boundary rule applies", low=0.0,
                                           high=1.0)
  block_rows: int = config.field(8, help="rows (images x starts) per block of the search, so "
                                 "that results do not depend on the batch (the last row of each "
                                 "block is a filler, base.in_blocks)", low=1, high=1024)
  block_fillers: int = base.block_fillers_field(2)

  def __post_init__(self):
    super().__post_init__()
    if self.iterations > self.max_iterations or self.num_starts > self.max_starts:
      raise ValueError("need iterations <= max_iterations and num_starts <= max_starts")
    if self.context_window % 2 != 1:
      raise ValueError(f"context_window must be odd, got {self.context_window}")


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
  OPTIONS = (
      base.Option("iterations", tf.int32, clamp=True, high=lambda c: c.max_iterations),
      base.Option("seed", tf.int32),
      *(base.Option(key, tf.float32) for key in _TERM_WEIGHT.values()),
      base.Option("learning_rate", tf.float32),
      base.Option("momentum", tf.float32),
      base.Option("num_starts", tf.int32, clamp=True, high=lambda c: c.max_starts),
      base.Option("epsilon", tf.float32),
      base.Option("boundary_scale", tf.float32),
      base.Option("trace_all", tf.int32, default=0, low=0, high=1,
                  help="1: trace every loss term, also those the preset does not optimise "
                  "(Figure 3); 0: those trace as 0 and their networks are not run"),
      base.Option("patience", tf.int32),
      base.Option("tolerance", tf.float32),
  )
  NETWORKS = ("generator", "discriminator")
  OPTIONAL_NETWORKS = ("classifier",)
  ROLES = ("prior", "classifier")
  METHODS = {p: (p, {}) for p in losses.PRESETS}

  def __init__(self, networks, config, arrays=None):
    super().__init__(networks, config, arrays)
    c = config
    self.generator = networks["generator"]
    self.discriminator = networks["discriminator"]
    self.classifier = networks.get("classifier")
    if self.classifier is None and c.preset != "yeh":
      raise InputError(f"preset {c.preset!r} needs a classifier (only 'yeh' works without one)")
    h, w, _ = self.image_shape
    if c.context_window // 2 > min(h, w):
      raise InputError(f"context window must be at most twice the image size plus one, got "
                       f"{c.context_window}")
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
                          (0.0, 1.0, 0.0), block, signature,
                          sentinels=self.config.block_fillers)
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

  # -- the method's life beyond serving --------------------------------------------------------

  @classmethod
  def assemble(cls, trained, config, log=print):
    """From the trained DCGAN (role "prior") and, for the semantic and full presets, the trained
    GoogLeNet (role "classifier"), whose endpoints of `config.layers` feed the semantic loss."""
    from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
    prior, classifier = trained["prior"], trained.get("classifier")
    generator = prior.networks["generator"]
    networks = {"generator": generator, "discriminator": prior.networks["discriminator"]}
    if classifier is not None:
      names = tuple(k for k, v in config.layers.items() if v)
      networks["classifier"] = googlenet.endpoints(classifier.networks["model"], names)
    names = classifier.class_names if classifier is not None else prior.class_names
    config = dataclasses.replace(config, image_shape=prior.experiment.data.image_shape,
                                 z_dim=int(generator.input_shape[-1]),
                                 class_names=tuple(names))
    log(f"semantic inpainter: generator z_dim {config.z_dim}, classifier "
        f"{'endpoints ' + ', '.join(config.layers) if classifier is not None else 'none (yeh)'}")
    return cls(networks, config)

  @classmethod
  def example(cls, size="tiny", **config):
    """tiny: a DCGAN-shaped generator / discriminator at 16x16x1 (z 8, 4 filters) and a small
    conv classifier with named endpoints; benchmark: a DCGAN of 32 filters and a quarter-width
    GoogLeNet at 32x32x3 (random weights; speed does not depend on them)."""
    import keras  # pylint: disable=g-import-not-at-top
    from tfinpaint.models import dcgan, googlenet  # pylint: disable=g-import-not-at-top
    keras.utils.set_random_seed(config.pop("seed_weights", 0))
    if size == "tiny":
      shape, z_dim = (16, 16, 1), 8
      prior = dcgan.DCGANConfig(width=4 / 64, z_dim=z_dim).build(shape, 3)
      image = keras.Input(shape)
      a = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(image)
      b = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(a)
      logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(b))
      classifier = keras.Model(image, {"inception_3b": a, "inception_4b": b, "logits": logits})
      base_config = dict(preset="full", iterations=3, max_iterations=6, num_starts=2,
                         blend_iterations=50, lambda_sem=1.0, lambda_cat=1.0,
                         class_names=("a", "b", "c"))
    elif size == "benchmark":
      shape, z_dim = (32, 32, 3), 100
      prior = dcgan.DCGANConfig(width=0.5, z_dim=z_dim).build(shape, 10)
      net = googlenet.GoogLeNetConfig(width=0.25, aux_heads=False).build(shape, 10)["model"]
      classifier = googlenet.endpoints(net, tuple(losses.PAPER_LAYERS))
      base_config = dict(preset="full", num_starts=2, blend=False, epsilon=0.0,
                         max_iterations=5000)
    else:
      raise ValueError(f"example size must be tiny or benchmark, got {size!r}")
    networks = dict(prior, classifier=classifier)
    return cls(networks, SemanticConfig(image_shape=shape, z_dim=z_dim,
                                        **dict(base_config, **config)))

  def reference(self, inputs, options=None, preset=None):
    """Per-image eager loop over `step` (no blending): the raw composites in [-1, 1]."""
    preset = preset or self.config.preset
    opts = self.resolve(options)
    image, mask = (np.asarray(inputs[k], np.float32) for k in ("image", "mask"))
    out = []
    for i in range(len(image)):
      s = int(opts["num_starts"])
      rows = self.problem(tf.repeat(image[i:i + 1], s, 0), tf.repeat(mask[i:i + 1], s, 0), opts)
      z = self.starts(1, opts)
      v = tf.zeros_like(z)
      done = tf.zeros([z.shape[0]], tf.bool)
      for _ in range(int(opts["iterations"])):
        z_new, v_new, gnorm, _ = self.step(z, v, rows, opts, preset)
        done = tf.logical_or(done, gnorm < opts["epsilon"])
        if bool(tf.reduce_all(done)):
          break
        move = tf.logical_not(done)[:, None]
        z, v = tf.where(move, z_new, z), tf.where(move, v_new, v)
      terms, g = self.loss_terms(z, rows)
      objective = tf.add_n([terms[t] for t in losses.PRESETS[preset]])
      best = int(tf.argmin(objective))
      filled = masks.composite(rows["image"][best], g[best], rows["mask"][best])
      out.append(tf.clip_by_value(filled, -1.0, 1.0).numpy())
    return np.stack(out)

  def step_networks(self, images, preset=None):
    """The generator on every start of every image; the discriminator on G(z) (yeh) or on G(z)
    and y'; the classifier on both when the preset has semantic or categorical terms."""
    terms = set(losses.PRESETS[preset or self.config.preset])
    rows = images * self.config.num_starts
    large = bool(terms & {"inpainting", "semantic", "categorical"})
    out = [("generator", self.generator, rows),
           ("discriminator", self.discriminator, rows * (2 if large else 1))]
    if self.classifier is not None and terms & {"semantic", "categorical"}:
      out.append(("classifier", self.classifier, 2 * rows))
    return out
