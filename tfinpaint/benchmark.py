"""Speed, measured next to references in the same run: bin.benchmark's library.

A number of images x iterations per second means little on its own (machines differ by 100x), so
every measurement comes with a reference measured in the same process:

  * loops: each registered method's exported function (its batched tf.while_loop, on the
    method's `example("benchmark")` networks) next to its per-image eager Python loop over the
    same pure `step` (`Inpainter.reference`: so the speed-up is not bought by computing something
    else; both run on the same few images and are compared), with the achieved GFLOP/s of the
    work a step needs (FLOPs counted from the layer shapes of the networks it runs) next to the
    GFLOP/s of a plain tf.matmul on this machine, and where the time goes per network;
  * serving: each signature of each exported model, loaded with TF Serving's own loader
    (tfinpaint.serving.capi: the C API in a subprocess) with its warm-up records replayed: the
    first request after loading next to a warm one, and throughput against batch size;
  * paper scale (tfinpaint.paper_scale): the configs/cars_* experiments at their real size.
The loops run with oneDNN off (the CLIs' setting) and on, each in a fresh process.
"""

import dataclasses
import functools
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tfinpaint import config
from tfinpaint import export as export_lib
from tfinpaint import fileio
from tfinpaint import images as images_lib
from tfinpaint import measure
from tfinpaint import paper_scale as paper_scale_lib
from tfinpaint import plots
from tfinpaint import served
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base
from tfinpaint.serving import capi

BENCHMARKS = ("loops", "serving", "matmul")
SERVING_ITERATIONS = 50  # per served request: enough for a steady rate, short enough to repeat
LONG_REQUEST = 1000  # iterations of the one-image "long request" rows
LONG_REQUEST_BUDGET = 10.0  # seconds: a long-request row is skipped where it would take longer
LOOP_SECONDS = 2.0  # the batched loop is timed over about this long


@dataclasses.dataclass(frozen=True)
class Settings(config.Config):
  """One bin.benchmark run: the flags of bin.benchmark are made from these fields."""
  benchmarks: tuple[str, ...] = config.field(BENCHMARKS, help="which measurements to run: "
                                             + ", ".join(BENCHMARKS))
  methods: tuple[str, ...] = config.field((), help="inpainting methods whose loops are timed "
                                          "(default: every registered method)")
  model_dir: tuple[str, ...] = config.field((), help="exports for the serving benchmark "
                                            "(default: the shipped ones)")
  batch_size: int = config.field(served.BATCH_SIZE, help="largest batch of the throughput "
                                 "curve", low=1, high=4096)
  iterations: int | None = config.field(None, help="iterations per timed request (default: "
                                        "per benchmark)", low=1, high=10**6)
  paper_scale: bool = config.field(False, help="also time the configs/cars_* experiments at "
                                   "paper size")
  output_dir: str = config.field(os.path.join("out", "benchmark"), help="where benchmark.md, "
                                 "benchmark.csv and the throughput charts go")
  seed: int = config.field(0, help="seed of the random networks and images", low=0,
                           high=2**31 - 1)

  def __post_init__(self):
    super().__post_init__()
    bad = [b for b in self.benchmarks if b not in BENCHMARKS]
    if bad or not (self.benchmarks or self.paper_scale):
      raise ValueError(f"benchmarks takes {', '.join(BENCHMARKS)}; got "
                       f"{','.join(self.benchmarks) or 'nothing'}")

  @property
  def batch_sizes(self):
    return tuple(sorted({b for b in (1, 8, 32, 64) if b <= self.batch_size} |
                        {self.batch_size}))


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


def example_request(inpainter, n, seed=0):
  """Inputs of `inpainter`'s serving_default for n images: images in [-1, 1] (smooth random
  content: speed does not depend on it), centre masks, labels 0..K-1, threshold 0.5."""
  signature = inpainter.signatures()["serving_default"]
  names = [s.name for s in signature.inputs]
  image, mask = measure.sample_batch(n, inpainter.image_shape, seed)
  request = {"image": image, "mask": mask}
  if "label" in names:
    request["label"] = (np.arange(n) % inpainter.config.num_classes).astype(np.int32)
  if "threshold" in names:
    request["threshold"] = np.float32(0.5)
  return {k: v for k, v in request.items() if k in names}


def _served_call(inpainter):
  """call(request, n, iterations) of the exported serving_default on the first n images."""
  fn = inpainter.function("serving_default")

  def call(request, n, iterations):
    feeds = {k: tf.constant(v[:n] if np.ndim(v) else v) for k, v in request.items()}
    feeds["image"] = tf.constant(images_lib.to_unit(request["image"][:n]))
    return fn(**feeds, iterations=tf.constant(iterations, tf.int32))
  return call


def bench_loop(inpainter, *, images, iterations=None, ref_images=2, ref_iterations=5, seed=0):
  """The exported loop of `inpainter` next to its per-image eager reference.

  Returns (rows, max |loop - reference| on the reference's images and iterations, seconds per
  iteration of the loop). Without `iterations`, about LOOP_SECONDS worth are timed.
  """
  request = example_request(inpainter, images, seed)
  call = _served_call(inpainter)
  first, _ = measure.timed(lambda: call(request, images, 1))  # traces (iterations is a tensor)
  if iterations is None:
    once, _ = measure.timed(lambda: call(request, images, 2))
    iterations = int(np.clip(LOOP_SECONDS / max(once / 2, 1e-4), 2, 500))
  batched, _ = measure.timed(lambda: call(request, images, iterations), repeats=2)
  small = {k: (v[:ref_images] if np.ndim(v) else v) for k, v in request.items()}
  ref_seconds, theirs = measure.timed(
      lambda: inpainter.reference(small, {"iterations": ref_iterations}))
  ours = images_lib.to_signed(np.asarray(call(request, ref_images, ref_iterations)["inpainted"]))
  diff = float(np.abs(ours - theirs).max())
  flops = inpainter.step_flops(images)
  name = f"{inpainter.KIND} {'x'.join(map(str, inpainter.image_shape))}"
  rows = [Row(name, "exported tf.while_loop", images, iterations, batched,
              flops * iterations / batched / 1e9),
          Row(name, "per-image eager loop (same step)", ref_images, ref_iterations, ref_seconds,
              None, "reference")]
  return rows, diff, batched / iterations


def profile(inpainter, images, repeats=10):
  """Where one step's time goes: the forward and input-gradient pass of each network the step
  runs, at the step's sizes for `images` images; {part: milliseconds}, best of `repeats`."""
  parts = {}
  for label, model, batch in inpainter.step_networks(images):
    shape = (batch,) + tuple(int(d) for d in model.inputs[0].shape[1:])
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))

    @tf.function
    def fwd_bwd(x, model=model):
      with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.add_n([tf.reduce_sum(t) for t in tf.nest.flatten(model(x, training=False))])
      return tape.gradient(total, x)

    fwd_bwd(x)
    parts[f"{label} forward + backward"] = measure.timed(lambda: fwd_bwd(x), repeats)[0] * 1e3
  return parts


def bench_blocks(inpainter, *, block_sizes=(4, 8, 16), long_iterations=LONG_REQUEST, batch=64,
                 iterations=100, seed=0):
  """The block-size trade-off of the exported function: one image at `long_iterations` (it pays
  for a whole block of rows) next to a batch of `batch` at `iterations`, for each block size.
  Returns table rows."""
  rows = []
  request = example_request(inpainter, batch, seed)
  for block in block_sizes:
    config_b = dataclasses.replace(inpainter.config, block_rows=block)
    call = _served_call(type(inpainter)(inpainter.networks, config_b, inpainter.arrays))
    call(request, 1, 1)
    name = f"{inpainter.KIND}, block of {block} rows"
    for n, its, variant in ((1, long_iterations, f"1 image, {long_iterations} iterations"),
                            (batch, iterations, f"batch {batch}")):
      seconds, _ = measure.timed(functools.partial(call, request, n, its), repeats=2)
      rows.append(Row(name, variant, n, its, seconds))
  return rows


# ----------------------------------------------------------------------------- serving


def bench_serving(version_dir, *, batch_sizes=(1, 8, 32, 64), iterations=None, signatures=None,
                  requests_per_size=1, long_request=LONG_REQUEST):
  """Every signature of an export through TF Serving's loader (C API, warm-up replayed).

  Returns (rows, curves, facts): table rows (first call after load, warm call, one row per
  batch size, and one image at `long_request` iterations on serving_default where the warm
  rate says it takes under LONG_REQUEST_BUDGET seconds), {signature: [(batch, images x it /
  s)]}, and load / warm-up seconds.
  """
  sigs = served.read_signatures(version_dir)
  signatures = list(signatures or sigs)
  name = os.path.basename(os.path.dirname(os.path.normpath(version_dir)))
  requests, index = [], []
  for sig in signatures:
    info = sigs[sig]
    h, w, c = info.inputs["image"][1][1:]
    its = info.defaults["iterations"] if iterations is None else np.int32(iterations)
    for b in [1, 1] + [b for b in batch_sizes if b != 1] * requests_per_size:
      x, m = measure.sample_batch(b, (h, w, c))
      inputs = {"image": images_lib.to_unit(x), "iterations": np.int32(its)}
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
    cap = export_lib.read_metadata(version_dir)["signatures"][sig]["options"]["iterations"]
    done = min(long_request, int(cap["high"]) if cap.get("high") is not None else long_request)
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


def _classes(settings):
  """The inpainter classes whose loops are timed (settings.methods, else every one)."""
  known = {cls.KIND: cls for cls in base.classes()}
  unknown = [m for m in settings.methods if m not in known]
  if unknown:
    raise InputError(f"--methods: unknown method(s) {', '.join(unknown)}; registered: "
                     f"{', '.join(known)}")
  return [known[m] for m in settings.methods] if settings.methods else list(known.values())


def _loop_rows(settings):
  """The loop and matmul rows, and notes, for this process's TensorFlow settings."""
  s = settings
  tag = f"oneDNN {'on' if os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1') == '1' else 'off'}"
  rows, notes = [], []
  if "loops" in s.benchmarks:
    for cls in _classes(s):
      inpainter = cls.example("benchmark", seed_weights=s.seed)
      images = 2 * inpainter.config.block_rows
      r, diff, per_iteration = bench_loop(inpainter, images=images, iterations=s.iterations,
                                          seed=s.seed)
      for row in r:
        row.benchmark += f", {tag}"
      rows += r
      notes.append(f"{cls.KIND}, {tag}: the exported loop and the per-image eager loop differ "
                   f"by at most {diff:.2e} (5 iterations)")
      parts = profile(inpainter, images)
      notes.append(f"{cls.KIND}, {tag}, one step of {images} images: "
                   f"{per_iteration * 1e3:.2f} ms in the loop; " +
                   ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items()))
      if per_iteration / images * inpainter.config.block_rows * LONG_REQUEST < LONG_REQUEST_BUDGET:
        r = bench_blocks(inpainter, seed=s.seed)
        for row in r:
          row.benchmark += f", {tag}"
        rows += r
  if "matmul" in s.benchmarks:
    gflops, seconds = measure.matmul_gflops(1024)
    rows.append(Row(f"tf.matmul 1024x1024 float32, {tag}", "reference for GFLOP/s", 0, 0,
                    seconds, gflops))
  return rows, notes


def _loop_child(payload):
  """Child process entry: imports the methods' modules, prints the loop rows as JSON."""
  payload = json.loads(payload)
  for module in payload.pop("modules"):
    importlib.import_module(module)
  rows, notes = _loop_rows(config.from_json(Settings, payload["settings"]))
  print("TFINPAINT_ROWS " + json.dumps(dict(rows=[dataclasses.asdict(r) for r in rows],
                                            notes=notes)), flush=True)


def loops_in_children(settings):
  """The loop benchmarks with oneDNN off (the CLIs' default) and on, each in a fresh process
  (the setting is read once, when TensorFlow loads): side by side in one run. A method defined
  outside the package is imported in the child by its module name."""
  modules = sorted({cls.__module__ for cls in _classes(settings)} - {"__main__"})
  payload = json.dumps(dict(settings=config.to_json(settings), modules=modules))
  rows, notes = [], []
  for onednn in ("0", "1"):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    proc = subprocess.run([sys.executable, "-c", "import sys; from tfinpaint import benchmark; "
                           "benchmark._loop_child(sys.argv[1])", payload],
                          capture_output=True, text=True, env=env, check=False)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("TFINPAINT_ROWS ")), None)
    if proc.returncode or line is None:
      raise RuntimeError(f"the loop benchmark failed:\n{proc.stderr[-3000:]}")
    data = json.loads(line[len("TFINPAINT_ROWS "):])
    rows += [Row(**r) for r in data["rows"]]
    notes += data["notes"]
  return rows, notes


def _serving(settings, log):
  rows, notes, charts = [], [], {}
  dirs = settings.model_dir or tuple(p for p in (served.find_shipped(n) for n in served.SHIPPED)
                                     if p)
  for d in dirs:
    version = export_lib.version_dir(d)
    log(f"serving {version} through TF Serving's loader ...")
    r, curves, facts = bench_serving(version, batch_sizes=settings.batch_sizes,
                                     iterations=settings.iterations or SERVING_ITERATIONS)
    rows += r
    notes.append(f"{version}: load {facts['load']:.1f} s, {facts['warmup_requests']} warm-up "
                 f"requests {facts['warmup']:.1f} s, ERROR log lines: "
                 f"{len(facts['errors_logged'])}")
    name = os.path.basename(os.path.normpath(d))
    for sig, curve in curves.items():
      first = next(x for x in r if x.benchmark.endswith(f" {sig} (served)") and
                   x.variant.startswith("first"))
      warm = next(x for x in r if x.benchmark.endswith(f" {sig} (served)") and
                  x.variant == "warm request")
      notes.append(f"{name} {sig}: first request after load {first.seconds / warm.seconds:.2f}x "
                   "a warm one")
      xs, ys = zip(*curve)
      charts.setdefault(name, ([], [], xs))
      charts[name][0].append(np.asarray(ys))
      charts[name][1].append(sig)
  return rows, notes, charts


def run(settings, log=print):
  """A whole bin.benchmark run; returns (output_dir, written names, markdown text)."""
  s = settings
  fileio.check_output_dir(s.output_dir)  # before the work
  threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
  header = (f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), intra-op threads {threads}, "
            f"devices: {', '.join(d.name for d in tf.config.list_logical_devices())}")
  log(header)
  rows, notes, charts = [], [header], {}
  if {"loops", "matmul"} & set(s.benchmarks):
    log("loops and matmul, oneDNN off and on ...")
    r, n = loops_in_children(s)
    rows, notes = rows + r, notes + n
  if "serving" in s.benchmarks:
    r, n, charts = _serving(s, log)
    rows, notes = rows + r, notes + n
  text = "\n".join([markdown(rows), ""] + [f"- {n}" for n in notes]) + "\n"
  scale = None
  if s.paper_scale:
    log("paper scale: the configs/cars_* experiments at their real size ...")
    scale = paper_scale_lib.run(log=log)
    text += "\n## Paper scale (random data of the real shape)\n\n" + paper_scale_lib.markdown(scale)
  with fileio.published(s.output_dir, describe="bin.benchmark results") as stage:
    fileio.write_text(os.path.join(stage, "benchmark.md"), text)
    fileio.write_text(os.path.join(stage, "benchmark.csv"), csv_text(rows))
    written = ["benchmark.md", "benchmark.csv"]
    if scale is not None:
      fileio.write_text(os.path.join(stage, "paper_scale.json"),
                        json.dumps(scale, indent=1, default=str) + "\n")
      written.append("paper_scale.json")
    for name, (series, labels, xs) in charts.items():
      chart = plots.line_chart(series, labels=labels, xs=list(xs), size=(720, 440),
                               title=f"{name}: throughput by batch size (served, C API loader)",
                               xlabel="images per request", ylabel="images x iterations / s")
      images_lib.write_png(os.path.join(stage, f"throughput_{name}.png"), chart)
      written.append(f"throughput_{name}.png")
  return s.output_dir, written, text
