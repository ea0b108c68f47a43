"""Speed, measured next to references in the same run: bin.benchmark's library.

A number of images x iterations per second means little on its own (machines differ by 100x), so
every measurement comes with a reference measured in the same process:

  * loops: each inpainter's batched tf.while_loop next to a per-image eager Python loop calling
    the same pure `step` (so the speed-up is not bought by computing something else: both are
    also run on the same few images and compared), with the achieved GFLOP/s of one iteration
    (FLOPs counted by the tf.compat.v1 profiler on the graph of one `step`) next to the GFLOP/s
    of a plain tf.matmul on this machine;
  * serving: each signature of each exported model, loaded with TF Serving's own loader
    (tfinpaint.serving.capi: the C API in a subprocess) with its warm-up records replayed: the
    first request after loading next to a warm one, and throughput against batch size;
  * paper scale: one training step and one inpainting iteration of the configs/cars_* networks
    at their real size (64x64x3, full width, 196 classes), with the wall time of the paper's
    runs extrapolated from them.
"""

import dataclasses
import functools
import os
import resource
import time

import numpy as np
import tensorflow as tf

from tfinpaint import masks as masks_lib

# Figures of the previous main (stop 5, same benchmark settings, this 2-core machine), printed
# as fixed references: the targets of the speed work are ratios to them.
PREVIOUS = {"classifier": 4706.0, "semantic": 70.6}  # images x iterations per second


@dataclasses.dataclass
class Row:
  """One line of a benchmark table."""
  benchmark: str
  variant: str
  images: int
  iterations: int
  seconds: float
  gflops: float | None = None  # achieved GFLOP/s
  note: str = ""

  @property
  def rate(self):
    """images x iterations per second."""
    return self.images * self.iterations / self.seconds if self.seconds > 0 else float("inf")


def timed(fn, repeats=1):
  """(best wall-clock seconds of `repeats` calls of fn(), last result forced to numpy)."""
  best, out = float("inf"), None
  for _ in range(max(1, repeats)):
    start = time.perf_counter()
    out = tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
    best = min(best, time.perf_counter() - start)
  return best, out


def count_flops(concrete_fn):
  """Floating-point operations of one call of a concrete function (static shapes needed).

  Uses the tf.compat.v1 profiler's per-op statistics (Conv2D and its gradients, MatMul,
  element-wise ops, ...); ops without registered statistics count 0, so this is a slight
  under-estimate.
  """
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts["output"] = "none"
  prof = tf.compat.v1.profiler.profile(graph=concrete_fn.graph, options=opts)
  return int(prof.total_float_ops)


def matmul_gflops(n=1024, repeats=10):
  """GFLOP/s of an n x n float32 tf.matmul (2 n^3 FLOPs), best of `repeats`."""
  a = tf.random.stateless_uniform([n, n], seed=[1, 2])
  b = tf.random.stateless_uniform([n, n], seed=[3, 4])
  mm = tf.function(tf.matmul)
  mm(a, b).numpy()  # warm-up / trace
  seconds, _ = timed(lambda: mm(a, b), repeats)
  return 2.0 * n ** 3 / seconds / 1e9, seconds


def sample_batch(n, shape, seed=0):
  """n smooth random images in [-1, 1] with `center` masks (speed does not depend on content)."""
  h, w, c = shape
  rng = np.random.default_rng(seed)
  low = rng.uniform(-1, 1, (n, max(2, h // 4), max(2, w // 4), c)).astype(np.float32)
  images = tf.image.resize(low, (h, w)).numpy().clip(-1, 1)
  return images, masks_lib.make("center", n, h, w)


def peak_rss_mb():
  """Peak resident memory of this process so far, MB."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- the loops


def classifier_reference(inpainter, image, mask, label, iterations, options=None):
  """Per-image eager loop over ClassifierInpainter.step (no tf.function); [-1, 1] results."""
  opts = inpainter.resolve(dict(options or {}, iterations=iterations))
  out = []
  for i in range(len(image)):
    rows, x = inpainter.problem(tf.constant(image[i:i + 1]), tf.constant(mask[i:i + 1]),
                                tf.constant(label[i:i + 1], tf.int32), opts)
    for t in range(iterations):
      moved, gnorm, energy = inpainter.step(x, tf.constant(t), rows, opts)
      if float(gnorm[0]) < float(opts["epsilon"]):
        break
      x = moved
    out.append(x.numpy()[0])
  return np.stack(out)


def semantic_reference(module, image, mask, iterations, options=None, preset=None):
  """Per-image eager loop over SemanticInpainter.step (no blending); [-1, 1] composites."""
  preset = preset or module.config.preset
  opts = module.resolve(dict(options or {}, iterations=iterations))
  out = []
  for i in range(len(image)):
    s = int(opts["num_starts"])
    rows = module.problem(tf.repeat(image[i:i + 1], s, 0), tf.repeat(mask[i:i + 1], s, 0), opts)
    z = module.starts(1, opts)
    v = tf.zeros_like(z)
    done = tf.zeros([z.shape[0]], tf.bool)
    for _ in range(iterations):
      z_new, v_new, gnorm, _ = module.step(z, v, rows, opts, preset)
      done = tf.logical_or(done, gnorm < opts["epsilon"])
      if bool(tf.reduce_all(done)):
        break
      move = tf.logical_not(done)[:, None]
      z, v = tf.where(move, z_new, z), tf.where(move, v_new, v)
    terms, g = module.loss_terms(z, rows)
    objective = tf.add_n([terms[t] for t in _preset_terms(preset)])
    best = int(tf.argmin(objective))
    filled = masks_lib.composite(rows["image"][best], g[best], rows["mask"][best])
    out.append(tf.clip_by_value(filled, -1.0, 1.0).numpy())
  return np.stack(out)


def _preset_terms(preset):
  from tfinpaint.inpainting import losses  # pylint: disable=g-import-not-at-top
  return losses.PRESETS[preset]


def step_flops(inpainter, batch, preset=None):
  """FLOPs of one `step` of an inpainter for `batch` images (x num_starts rows: semantic)."""
  h, w, c = inpainter.image_shape
  f32 = tf.float32
  opts = inpainter.resolve()
  if hasattr(inpainter, "num_classes"):  # classifier-guided: rows are the images
    @tf.function
    def one(x, image, known, label, band):
      rows = dict(image=image, known=known, label=label, band=band)
      return inpainter.step(x, tf.constant(0), rows, opts)[:2]
    image, mask = tf.TensorSpec([batch, h, w, c], f32), tf.TensorSpec([batch, h, w, 1], f32)
    return count_flops(one.get_concrete_function(image, image, mask,
                                                 tf.TensorSpec([batch], tf.int32), mask))
  preset = preset or inpainter.config.preset
  n = batch * int(opts["num_starts"])
  terms = ("context", "prior", "inpainting", "semantic", "categorical")

  @tf.function
  def one_semantic(z, v, image, mask, context, *weights):
    rows = dict(image=image, mask=mask, context=context, weights=dict(zip(terms, weights)))
    return inpainter.step(z, v, rows, opts, preset)[:2]
  z = tf.TensorSpec([n, inpainter.config.z_dim], f32)
  mask = tf.TensorSpec([n, h, w, 1], f32)
  return count_flops(one_semantic.get_concrete_function(
      z, z, tf.TensorSpec([n, h, w, c], f32), mask, mask, *[tf.TensorSpec([n], f32)] * 5))


def bench_loop(inpainter, *, images, iterations, ref_images=2, ref_iterations=5, options=None,
               preset=None, seed=0):
  """The batched loop of `inpainter` next to the per-image eager reference.

  Returns (rows, max |batched - reference| on the reference's images and iterations).
  """
  shape = inpainter.image_shape
  x, m = sample_batch(images, shape, seed)
  classifier = hasattr(inpainter, "num_classes")
  opts = dict(options or {})
  if classifier:
    labels = (np.arange(images) % inpainter.num_classes).astype(np.int32)
    run = tf.function(lambda a, b, c, it: inpainter.inpaint(a, b, c, dict(opts, iterations=it)))
    args = lambda n, t: (x[:n], m[:n], labels[:n], tf.constant(t))  # pylint: disable=unnecessary-lambda-assignment
    name = f"classifier {'x'.join(map(str, shape))}"
    reference = lambda: classifier_reference(inpainter, x[:ref_images], m[:ref_images],  # pylint: disable=unnecessary-lambda-assignment
                                             labels[:ref_images], ref_iterations, opts)
  else:
    preset = preset or inpainter.config.preset
    run = tf.function(lambda a, b, it: inpainter.inpaint(a, b, dict(opts, iterations=it),
                                                         preset))
    args = lambda n, t: (x[:n], m[:n], tf.constant(t))  # pylint: disable=unnecessary-lambda-assignment
    starts = int(inpainter.resolve(opts)["num_starts"])
    name = f"semantic {preset} {'x'.join(map(str, shape))}, {starts} starts"
    reference = lambda: semantic_reference(inpainter, x[:ref_images], m[:ref_images],  # pylint: disable=unnecessary-lambda-assignment
                                           ref_iterations, opts, preset)
  run(*args(images, 1))  # trace (iterations is a tensor: no retrace)
  batched, _ = timed(lambda: run(*args(images, iterations)), repeats=2)
  ref_seconds, theirs = timed(reference)
  ours = run(*args(ref_images, ref_iterations))
  if not classifier:  # the reference does not blend: compare the raw composites
    ours = masks_lib.composite(x[:ref_images], ours["generated"], m[:ref_images])
  else:
    ours = ours["inpainted"]
  diff = float(np.abs(np.asarray(ours) - theirs).max())
  flops = step_flops(inpainter, images, preset)
  rows = [Row(name, "batched tf.while_loop", images, iterations, batched,
              flops * iterations / batched / 1e9),
          Row(name, "per-image eager loop (same step)", ref_images, ref_iterations, ref_seconds,
              None, "reference")]
  return rows, diff


def bench_blocks(make, *, block_sizes=(4, 8, 16), long_iterations=1000, batch=64,
                 iterations=100, seed=0):
  """The block-size trade-off of an exported function: one image at `long_iterations` (it pays
  for a whole block of rows) next to a batch of `batch` at `iterations`, for each block size.

  make(block_rows) -> the inpainter with that block size (the same networks). Rows go through
  its serving_default function, as exported. Returns table rows.
  """
  rows = []
  for block in block_sizes:
    inpainter = make(block)
    fn = inpainter.function("serving_default")
    x, m = sample_batch(batch, inpainter.image_shape, seed)
    x = (x + 1.0) / 2.0
    extra = ({"label": tf.zeros([batch], tf.int32)}
             if "label" in [i.name for i in inpainter.signatures()["serving_default"].inputs]
             else {})

    def call(n, its, fn=fn, x=x, m=m, extra=extra):
      return fn(image=tf.constant(x[:n]), mask=tf.constant(m[:n]), iterations=tf.constant(its),
                **{k: v[:n] for k, v in extra.items()})

    call(1, 1)
    name = f"block of {block} rows (serving_default)"
    for n, its, variant in ((1, long_iterations, f"1 image, {long_iterations} iterations"),
                            (batch, iterations, f"batch {batch}")):
      seconds, _ = timed(functools.partial(call, n, its), repeats=2)
      rows.append(Row(name, variant, n, its, seconds))
  return rows


# ----------------------------------------------------------------------------- serving


LONG_REQUEST = 1000  # iterations of the one-image "long request" row
LONG_REQUEST_BUDGET = 10.0  # seconds: the row is skipped where it would take longer


def bench_serving(version_dir, *, batch_sizes=(1, 8, 32, 64), iterations=None, signatures=None,
                  requests_per_size=1, long_request=LONG_REQUEST):
  """Every signature of an export through TF Serving's loader (C API, warm-up replayed).

  Returns (rows, curves, facts): table rows (first call after load, warm call, one row per
  batch size, and one image at `long_request` iterations on serving_default where the warm
  rate says it takes under LONG_REQUEST_BUDGET seconds), {signature: [(batch, images x it /
  s)]}, and load / warm-up seconds.
  """
  from tfinpaint import served  # pylint: disable=g-import-not-at-top
  from tfinpaint.serving import capi  # pylint: disable=g-import-not-at-top
  sigs = served.read_signatures(version_dir)
  signatures = list(signatures or sigs)
  name = os.path.basename(os.path.dirname(os.path.normpath(version_dir)))
  requests, index = [], []
  for sig in signatures:
    info = sigs[sig]
    h, w, c = info.inputs["image"][1][1:]
    its = info.defaults["iterations"] if iterations is None else np.int32(iterations)
    for b in [1, 1] + [b for b in batch_sizes if b != 1] * requests_per_size:
      x, m = sample_batch(b, (h, w, c))
      inputs = {"image": (x + 1.0) / 2.0, "iterations": np.int32(its)}
      if "mask" in info.inputs:
        inputs["mask"] = m
      if "label" in info.inputs:
        inputs["label"] = np.zeros([b], np.int32)
      if "threshold" in info.inputs:
        inputs["threshold"] = np.float32(0.5)
      requests.append((sig, inputs))
      index.append((sig, b, int(its)))
  result = capi.run(version_dir, requests, warmup=True)
  failed = [(index[i], e) for i, e in enumerate(result.errors) if e]
  if failed:
    raise RuntimeError(f"served requests failed: {failed[:2]}")
  rows, curves, seen = [], {}, {}
  for (sig, b, its), seconds in zip(index, result.seconds):
    k = seen.get((sig, b), 0)
    seen[(sig, b)] = k + 1
    if b == 1 and k == 0:
      variant = "first request after load"
    elif b == 1 and k == 1:
      variant = "warm request"
    else:
      variant = f"batch {b}"
    rows.append(Row(f"{name} {sig} (served)", variant, b, its, seconds))
    if k == (1 if b == 1 else 0):
      curves.setdefault(sig, []).append((b, b * its / seconds))
  warm = next((r for r in rows if r.benchmark == f"{name} serving_default (served)" and
               r.variant == "warm request"), None)
  if long_request and warm and warm.seconds / warm.iterations * long_request < LONG_REQUEST_BUDGET:
    sig, inputs = next(r for r in requests if r[0] == "serving_default")
    long_run = capi.run(version_dir, [(sig, dict(inputs, iterations=np.int32(long_request)))],
                        warmup=True)
    if long_run.errors[0]:
      raise RuntimeError(f"the long served request failed: {long_run.errors[0]}")
    done = int(np.max(long_run.outputs[0]["iterations"]))  # after the model's cap
    rows.append(Row(f"{name} serving_default (served)", f"1 image, {done} iterations",
                    1, done, long_run.seconds[0]))
  facts = dict(load=result.load_seconds, warmup=result.warmup_seconds,
               warmup_requests=result.warmup_requests,
               errors_logged=[l for l in result.log.splitlines() if l.startswith("E")])
  return rows, curves, facts


# ----------------------------------------------------------------------------- table


def markdown(rows):
  """The benchmark table: rate, speed-up over the reference of the same benchmark, GFLOP/s."""
  refs = {r.benchmark: r.rate for r in rows if r.note == "reference"}
  lines = ["| benchmark | variant | images | iterations | seconds | images x it / s | speed-up "
           "| GFLOP/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
  for r in rows:
    ref = refs.get(r.benchmark)
    speed = f"{r.rate / ref:.1f}x" if ref and r.note != "reference" else (
        "1.0x" if r.note == "reference" else "")
    gflops = "" if r.gflops is None else f"{r.gflops:.2f}"
    rate = "" if r.iterations == 0 else f"{r.rate:.1f}"
    lines.append(f"| {r.benchmark} | {r.variant} | {r.images or ''} | {r.iterations or ''} | "
                 f"{r.seconds:.3f} | {rate} | {speed} | {gflops} |")
  return "\n".join(lines)


def csv_text(rows):
  lines = ["benchmark,variant,images,iterations,seconds,rate,gflops,note"]
  for r in rows:
    lines.append(",".join([f'"{r.benchmark}"', f'"{r.variant}"', str(r.images),
                           str(r.iterations), f"{r.seconds:.6f}",
                           "" if not r.iterations else f"{r.rate:.3f}",
                           "" if r.gflops is None else f"{r.gflops:.4f}", r.note]))
  return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- a whole run

KINDS = ("classifier", "semantic", "serving", "matmul")
SERVING_ITERATIONS = 50  # per served request: enough for a steady rate, short enough to repeat


@dataclasses.dataclass
class Settings:
  """One bin.benchmark run (flags -> this, in bin/flags.py)."""
  benchmarks: tuple = KINDS
  model_dirs: tuple = ()  # exports for the serving benchmark (default: the shipped ones)
  batch_sizes: tuple = (1, 8, 32, 64)
  iterations: int | None = None
  paper_scale: bool = False
  output_dir: str = os.path.join("out", "benchmark")
  seed: int = 0


def loop_inpainters(seed=0):
  """The two loops at the sizes of the previous main's benchmark (random weights: speed does
  not depend on them): LeNet 28x28x1; DCGAN (32 filters) + GoogLeNet x0.25 at 32x32x3."""
  import keras  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import classifier_guided as cg, semantic  # pylint: disable=g-import-not-at-top
  from tfinpaint.models import dcgan, googlenet, lenet  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  classifier = cg.ClassifierInpainter(
      {"classifier": lenet.build((28, 28, 1), 10)},
      cg.ClassifierConfig((28, 28, 1), 10, epsilon=0.0, max_iterations=5000))
  gen = dcgan.build_generator(32, 3, z_dim=100, width=32)
  disc = dcgan.build_discriminator(32, 3, width=32)
  net = googlenet.build((32, 32, 3), 10, width=0.25, aux_heads=False)
  gan = semantic.SemanticInpainter(
      {"generator": gen, "discriminator": disc, "classifier": googlenet.endpoints(net)},
      semantic.SemanticConfig((32, 32, 3), 100, preset="full", num_starts=2, blend=False,
                              epsilon=0.0, max_iterations=5000))
  return classifier, gan


def profile(inpainter, batch, preset=None, repeats=20):
  """Where one step's time goes: each network's forward and forward + backward at the step's
  sizes, next to the whole step; {part: milliseconds}. Timed as tf.functions, best of
  `repeats`."""
  h, w, c = inpainter.image_shape
  rng = np.random.default_rng(0)
  parts = {}

  def ms(fn, *args):
    fn(*args)
    return timed(lambda: fn(*args), repeats)[0] * 1000.0

  def fwd_bwd(net, x, pick=lambda y: y):
    @tf.function
    def f(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nest.flatten(pick(net(x, training=False)))
        total = tf.add_n([tf.reduce_sum(t) for t in y])
      return tape.gradient(total, x)
    return f

  if hasattr(inpainter, "num_classes"):
    x = tf.constant(rng.uniform(-1, 1, (batch, h, w, c)).astype(np.float32))
    net = inpainter.classifier
    parts["classifier forward"] = ms(tf.function(lambda x: net(x, training=False)), x)
    parts["classifier forward + backward"] = ms(fwd_bwd(net, x), x)
    image, mask = sample_batch(batch, (h, w, c))
    opts = inpainter.resolve()
    rows, x0 = inpainter.problem(tf.constant(image), tf.constant(mask),
                                 tf.zeros([batch], tf.int32), opts)
    step = tf.function(lambda x: inpainter.step(x, tf.constant(1), rows, opts)[0])
    parts["whole step"] = ms(step, x0)
    return parts
  preset = preset or inpainter.config.preset
  opts = inpainter.resolve()
  n = batch * int(opts["num_starts"])
  z = tf.constant(rng.uniform(-1, 1, (n, inpainter.config.z_dim)).astype(np.float32))
  g = inpainter.generator
  parts["generator forward + backward"] = ms(fwd_bwd(g, z), z)
  both = tf.constant(rng.uniform(-1, 1, (2 * n, h, w, c)).astype(np.float32))
  parts["discriminator forward + backward (G(z) and y')"] = ms(fwd_bwd(inpainter.discriminator,
                                                                     both), both)
  if inpainter.classifier is not None:
    parts["classifier forward + backward (G(z) and y')"] = ms(fwd_bwd(inpainter.classifier,
                                                                    both), both)
  image, mask = sample_batch(n, (h, w, c))
  rows = inpainter.problem(tf.constant(image), tf.constant(mask), opts)
  step = tf.function(lambda z: inpainter.step(z, tf.zeros_like(z), rows, opts, preset)[0])
  parts["whole step"] = ms(step, z)
  return parts


def _loop_rows(s):
  """The loop and matmul rows, and notes, for this process's TensorFlow settings."""
  onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")
  tag = f"oneDNN {'on' if onednn == '1' else 'off'}"
  rows, notes = [], []
  classifier, gan = loop_inpainters(s.seed)
  # (inpainter, images, default iterations, rows per profiled step, note on the comparison)
  loops = {"classifier": (classifier, 32, 100, classifier.config.block_rows, ""),
           "semantic": (gan, 8, 10, gan.config.block_rows // 2,
                        " (5 iterations, before blending)")}
  for kind, (inpainter, images, iterations, batch, extra) in loops.items():
    if kind not in s.benchmarks:
      continue
    r, diff = bench_loop(inpainter, images=images, iterations=s.iterations or iterations,
                         seed=s.seed)
    for row in r:
      row.benchmark += f", {tag}"
    rows += r
    notes.append(f"{kind}, {tag}: batched and per-image results differ by at most "
                 f"{diff:.2e}{extra}")
    parts = profile(inpainter, batch)
    notes.append(f"{kind}, {tag}, one step of a {inpainter.config.block_rows}-row block: " +
                 ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items()))
  if "classifier" in s.benchmarks:
    net, config = classifier.classifier, classifier.config
    r = bench_blocks(lambda rows: type(classifier)({"classifier": net},
                                                   dataclasses.replace(config, block_rows=rows)),
                     seed=s.seed)
    for row in r:
      row.benchmark = f"classifier 28x28x1, {row.benchmark}, {tag}"
    rows += r
  if "matmul" in s.benchmarks:
    gflops, seconds = matmul_gflops(1024)
    rows.append(Row(f"tf.matmul 1024x1024 float32, {tag}", "reference for GFLOP/s", 0, 0,
                    seconds, gflops))
  return rows, notes


def _loop_child(settings_json):
  """Child process entry: prints the loop rows of this process's settings as JSON."""
  import json  # pylint: disable=g-import-not-at-top
  s = Settings(**json.loads(settings_json))
  rows, notes = _loop_rows(s)
  print("TFINPAINT_ROWS " + json.dumps(dict(rows=[dataclasses.asdict(r) for r in rows],
                                            notes=notes)), flush=True)


def loops_in_children(settings):
  """The loop benchmarks with oneDNN off (the CLIs' default) and on, each in a fresh process
  (the setting is read once, when TensorFlow loads): side by side in one run."""
  import json  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  fields = {k: v for k, v in dataclasses.asdict(settings).items()
            if k in ("benchmarks", "iterations", "seed")}
  rows, notes = [], []
  for onednn in ("0", "1"):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", "import sys; from tfinpaint import benchmark; "
                           "benchmark._loop_child(sys.argv[1])", json.dumps(fields)],
                          capture_output=True, text=True, env=env, check=False)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("TFINPAINT_ROWS ")), None)
    if proc.returncode or line is None:
      raise RuntimeError(f"the loop benchmark failed:\n{proc.stderr[-3000:]}")
    data = json.loads(line[len("TFINPAINT_ROWS "):])
    rows += [Row(**r) for r in data["rows"]]
    notes += data["notes"]
  return rows, notes


def run(settings, log=print):
  """A whole bin.benchmark run; returns (output_dir, written names, markdown text)."""
  from tfinpaint import fileio, images, plots  # pylint: disable=g-import-not-at-top
  s = settings
  unknown = [b for b in s.benchmarks if b not in KINDS]
  if unknown or not (s.benchmarks or s.paper_scale):
    from tfinpaint.errors import InputError  # pylint: disable=g-import-not-at-top
    raise InputError(f"--benchmarks takes {', '.join(KINDS)}; got {','.join(s.benchmarks)}")
  threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
  header = (f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), intra-op threads {threads}, "
            f"devices: {', '.join(d.name for d in tf.config.list_logical_devices())}")
  log(header)
  rows, notes, charts = [], [header], {}
  if {"classifier", "semantic", "matmul"} & set(s.benchmarks):
    log("loops and matmul, oneDNN off and on ...")
    r, n = loops_in_children(s)
    rows += r
    notes += n
    for kind in ("classifier", "semantic"):
      ours = [x for x in r if x.benchmark.startswith(kind) and x.note != "reference"]
      if ours:
        rows.append(Row(ours[0].benchmark.split(", oneDNN")[0], "previous main (fixed "
                        "reference, oneDNN on)", ours[0].images, ours[0].iterations,
                        ours[0].images * ours[0].iterations / PREVIOUS[kind], None, "fixed"))
  if "serving" in s.benchmarks:
    from tfinpaint import inpaint  # pylint: disable=g-import-not-at-top
    dirs = s.model_dirs or tuple(p for p in (inpaint.find_shipped(n) for n in inpaint.SHIPPED)
                                 if p)
    from tfinpaint import export  # pylint: disable=g-import-not-at-top
    for d in dirs:
      version = export.version_dir(d)
      log(f"serving {version} through TF Serving's loader ...")
      r, curves, facts = bench_serving(version, batch_sizes=s.batch_sizes,
                                       iterations=s.iterations or SERVING_ITERATIONS)
      rows += r
      notes.append(f"{version}: load {facts['load']:.1f} s, {facts['warmup_requests']} warm-up "
                   f"requests {facts['warmup']:.1f} s, ERROR log lines: "
                   f"{len(facts['errors_logged'])}")
      for sig, curve in curves.items():
        first = next(x for x in r if x.benchmark.endswith(f" {sig} (served)") and
                     x.variant.startswith("first"))
        warm = next(x for x in r if x.benchmark.endswith(f" {sig} (served)") and
                    x.variant == "warm request")
        notes.append(f"{os.path.basename(d)} {sig}: first request after load "
                     f"{first.seconds / warm.seconds:.2f}x a warm one")
        xs, ys = zip(*curve)
        charts.setdefault(os.path.basename(d), ([], [], xs))
        charts[os.path.basename(d)][0].append(np.asarray(ys))
        charts[os.path.basename(d)][1].append(sig)
  table = markdown(rows)
  text = "\n".join([table, ""] + [f"- {n}" for n in notes]) + "\n"
  scale = None
  if s.paper_scale:
    import tempfile  # pylint: disable=g-import-not-at-top
    from tfinpaint import paper_scale as paper_scale_lib  # pylint: disable=g-import-not-at-top
    log("paper scale: the configs/cars_* networks at 64x64x3, full width, 196 classes ...")
    with tempfile.TemporaryDirectory() as tmp:
      scale = paper_scale_lib.paper_scale(export_dir=os.path.join(tmp, "cars_semantic"), log=log)
    exported = scale["cars_inpaint"]["export"]
    text += ("\n## Paper scale (random data of the real shape)\n\n" +
             paper_scale_lib.markdown(scale) +
             f"\nThe paper-scale inpainter exported in {exported['export_seconds']:.1f} s, "
             f"reloaded and ran one iteration in {exported['load_and_call_seconds']:.1f} s "
             f"(output {exported['inpainted_shape']}, finite: {exported['finite']}).\n")
  with fileio.published(s.output_dir, describe="bin.benchmark results") as stage:
    fileio.write_text(os.path.join(stage, "benchmark.md"), text)
    fileio.write_text(os.path.join(stage, "benchmark.csv"), csv_text(rows))
    written = ["benchmark.md", "benchmark.csv"]
    if scale is not None:
      import json  # pylint: disable=g-import-not-at-top
      fileio.write_text(os.path.join(stage, "paper_scale.json"),
                        json.dumps(scale, indent=1, default=str) + "\n")
      written.append("paper_scale.json")
    for name, (series, labels, xs) in charts.items():
      chart = plots.line_chart(series, labels=labels, xs=list(xs), size=(720, 440),
                               title=f"{name}: throughput by batch size (served, C API loader)",
                               xlabel="images per request", ylabel="images x iterations / s")
      images.write_png(os.path.join(stage, f"throughput_{name}.png"), chart)
      written.append(f"throughput_{name}.png")
  return s.output_dir, written, text
