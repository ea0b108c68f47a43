"""Where training runs: the tf.distribute strategy, the devices, and GPU-only options.

  * a strategy chosen by name (`make_strategy`): one device, the local devices (MirroredStrategy
    over `--config.runtime.devices`, logical CPUs made as needed), or multi-worker
    (MultiWorkerMirroredStrategy from TF_CONFIG, which must be set: a cluster is never guessed);
  * GPU memory growth and mixed precision (`configure_gpus`, `maybe_loss_scale`), refused
    clearly where there is no GPU;
  * which worker is the chief (`is_chief`): only it writes into the shared workdir.

Keras 3 optimizers under a multi-replica MirroredStrategy fail on their first
`apply_gradients` unless built in the scope, so trainers create models and optimizers inside
`strategy.scope()` and call `optimizer.build(model.trainable_variables)` there.
"""

import dataclasses
import json
import os
import re

import tensorflow as tf

from tfinpaint import config
from tfinpaint.errors import InputError, first_line

STRATEGIES = ("default", "mirrored", "multi_worker")
_STRATEGIES = {}  # name -> the process's strategy of that kind (see make_strategy).


@dataclasses.dataclass(frozen=True)
class RuntimeConfig(config.Config):
  """The runtime section of a training experiment: devices and numerics."""
  strategy: str = config.field(
      "default", help="tf.distribute strategy: default (one device), mirrored (the local "
      "devices of `devices`), multi_worker (MultiWorkerMirroredStrategy; needs TF_CONFIG)",
      choices=STRATEGIES)
  devices: tuple[str, ...] = config.field(
      (), help="devices of the mirrored strategy, e.g. GPU:0,GPU:1 or CPU:0,CPU:1 (default: "
      "all GPUs, else all logical CPUs)")
  mixed_precision: bool = config.field(
      False, help="GPU only: mixed_float16 compute with float32 variables and dynamic loss "
      "scaling (refused without a GPU)")
  memory_growth: bool = config.field(
      False, help="GPU only: take GPU memory as needed instead of all at once (no-op without a "
      "GPU)")

  def __post_init__(self):
    super().__post_init__()
    if self.devices and self.strategy != "mirrored":
      raise ValueError(f"devices applies to the mirrored strategy only, not {self.strategy} "
                       "(multi_worker uses every local GPU of a worker, else its CPU: restrict "
                       "it with CUDA_VISIBLE_DEVICES)")


def _device_names(kind=None):
  """Full names of the logical devices (of `kind`, e.g. "GPU"), in TensorFlow's order."""
  return [d.name for d in tf.config.list_logical_devices(kind)]


def _split_cpu(count):
  """Splits the physical CPU into `count` logical devices; False once the runtime is running.

  Reads the configuration only (listing logical devices would start the runtime), and never
  makes fewer logical CPUs than are configured.
  """
  cpus = tf.config.list_physical_devices("CPU")
  if len(tf.config.get_logical_device_configuration(cpus[0]) or [None]) >= count:
    return True
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
  except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
    return False
  return True


def resolve_devices(devices):
  """Full TensorFlow names of the requested devices ("GPU:0", "/gpu:1", "CPU:1", full names).

  Logical CPUs that do not exist yet (CPU:1 on a machine with one physical CPU) are made by
  splitting the CPU, which is possible until the TensorFlow runtime starts (the first op), so a
  run asks for them before anything else (bin.train does). Unknown devices are an InputError
  that lists the ones there are. An empty list means the default: every GPU, else every logical
  CPU.
  """
  devices = [str(d).strip() for d in devices if str(d).strip()]
  if not devices:
    return _device_names("GPU") or _device_names("CPU")
  wanted = []
  for d in devices:
    m = re.fullmatch(r"(?:.*/)?(?:device:)?([A-Za-z_]+):(\d+)", d)
    if not m:
      raise InputError(f"--config.runtime.devices: {d!r} is not a device name such as GPU:0 or CPU:1")
    wanted.append((d, m[1].upper(), int(m[2])))
  if len({(kind, index) for _, kind, index in wanted}) != len(wanted):
    raise InputError(f"--config.runtime.devices names a device twice: {','.join(devices)}")
  cpus = [index for _, kind, index in wanted if kind == "CPU"]
  if cpus:
    _split_cpu(max(cpus) + 1)  # before any listing; False once the runtime runs (lookup fails)
  available = _device_names()
  names = []
  for given, kind, index in wanted:
    match = [n for n in available if n.upper().endswith(f"DEVICE:{kind}:{index}")]
    if not match:
      raise InputError(f"--config.runtime.devices: no device {given} here; the devices are "
                       f"{', '.join(n.split('device:')[-1] for n in available)}")
    names.append(match[0])
  return names


def make_strategy(runtime):
  """The tf.distribute.Strategy of a RuntimeConfig.

  "default" is the current/default strategy (one device); "mirrored" a MirroredStrategy over
  `runtime.devices`, by default all visible local GPUs, else all logical CPUs (see
  `resolve_devices`; missing logical CPUs are created while that is still possible);
  "multi_worker" a MultiWorkerMirroredStrategy over the cluster of TF_CONFIG, which must be set.

  A process gets one instance per (name, devices), however often it asks: two MirroredStrategy
  objects in one process hand out the same collective instance keys and their all-reduces then
  clash ("Shape mismatch in the collective instance 100", tensorflow/tensorflow#62790), e.g. when
  a program or a test session trains two models one after the other. The default device list
  and the same devices named explicitly are the same strategy.
  """
  name, devices = runtime.strategy, tuple(runtime.devices)
  if name == "multi_worker":
    check_tf_config(os.environ.get("TF_CONFIG"))
  if name == "default":
    return tf.distribute.get_strategy()
  key = (name, tuple(resolve_devices(devices))) if name == "mirrored" else (name,)
  if key not in _STRATEGIES:
    if name == "mirrored":
      _STRATEGIES[key] = tf.distribute.MirroredStrategy(list(key[1]))
    else:
      _STRATEGIES[key] = tf.distribute.MultiWorkerMirroredStrategy()
  return _STRATEGIES[key]


def configure_gpus(runtime, log=print):
  """The GPU-only options of a RuntimeConfig, applied before anything runs on a device.

  memory_growth: tf.config.experimental.set_memory_growth on every GPU (TensorFlow then takes
    GPU memory as needed instead of all of it at start). Without a GPU: nothing, and a log line.
  mixed_precision: Keras' "mixed_float16" global policy (float16 compute, float32 variables);
    the trainers then wrap their optimizers in keras.optimizers.LossScaleOptimizer
    (`maybe_loss_scale`) and compute their losses in float32. Without a GPU it is refused: float16
    on a CPU is emulated and much slower than float32, never what a user wants.

  Returns:
    True when mixed precision is on.
  """
  memory_growth, mixed_precision = runtime.memory_growth, runtime.mixed_precision
  gpus = tf.config.list_physical_devices("GPU")
  if memory_growth:
    if not gpus:
      log("memory_growth: no GPU, nothing to do")
    for gpu in gpus:
      try:
        tf.config.experimental.set_memory_growth(gpu, True)
      except RuntimeError as e:  # the runtime already runs (a library caller's mistake)
        raise InputError(f"--config.runtime.memory_growth must be set before TensorFlow uses the GPU: "
                         f"{first_line(e)}") from None
    if gpus:
      log(f"memory_growth: on for {len(gpus)} GPU(s)")
  if not mixed_precision:
    return False
  if not gpus:
    raise InputError("--config.runtime.mixed_precision needs a GPU (float16 on the CPU is emulated and slower "
                     "than float32); drop the flag to train in float32")
  import keras  # pylint: disable=g-import-not-at-top
  keras.mixed_precision.set_global_policy("mixed_float16")
  log("mixed_precision: mixed_float16 (float16 compute, float32 variables, loss scaling)")
  return True


def mixed_precision_on():
  """Whether the global Keras policy computes in float16 (set by configure_gpus)."""
  import keras  # pylint: disable=g-import-not-at-top
  return keras.mixed_precision.global_policy().compute_dtype == "float16"


def maybe_loss_scale(optimizer):
  """`optimizer` wrapped in keras.optimizers.LossScaleOptimizer under mixed precision.

  Train steps call `optimizer.scale_loss(loss)` before taking gradients, which is the identity for
  a plain Keras 3 optimizer and multiplies by the dynamic loss scale for a wrapped one (whose
  apply_gradients divides it out again and skips steps with non-finite gradients).
  """
  if not mixed_precision_on():
    return optimizer
  import keras  # pylint: disable=g-import-not-at-top
  return keras.optimizers.LossScaleOptimizer(optimizer)


def is_chief(strategy):
  """True on the worker that writes checkpoints and summaries (always true on one machine)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0
      and "chief" not in resolver.cluster_spec().as_dict())


def check_tf_config(text):
  """Refuses a multi-worker run without a usable TF_CONFIG (it would train alone, silently)."""
  if not text:
    raise InputError("the multi_worker strategy needs TF_CONFIG (the cluster and this worker's "
                     "task; see the README's multi-worker recipe); without it use default or "
                     "mirrored")
  try:
    spec = json.loads(text)
    cluster, task = spec["cluster"], spec["task"]
    workers = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
    kind, index = task["type"], int(task["index"])
  except (ValueError, KeyError, TypeError) as e:
    raise InputError(f"TF_CONFIG is not a cluster spec with a task ({type(e).__name__}: {e}); "
                     'expected {"cluster": {"worker": [...]}, "task": {"type": "worker", '
                     '"index": 0}}') from None
  if kind not in cluster or not 0 <= index < len(cluster[kind]):
    raise InputError(f"TF_CONFIG's task {kind}:{index} is not in its cluster")
  return workers
