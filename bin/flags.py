"""Every command-line flag of the tfinpaint CLIs, defined once, and flags -> library settings.

Why one module: an experiment is a flagfile (configs/*.flags) passed to several commands
(bin.train, bin.export, bin.evaluate, bin.inpaint), and absl rejects unknown flags, so every main
knows every flag. Each command declares the flags it uses as key flags (listed first by --help)
and sets its own help text where a flag means something specific to it (`help_for`). Defaults
live in one place each: flags left unset are None and mean "the library's default" (the
dataclass field of the settings) or, for request options, "the exported model's value".
Library code never reads flags: the `*_settings` functions turn them into plain dataclasses.

This module imports no TensorFlow, so a bad flag fails in milliseconds.
"""

import math

from absl import flags

from tfinpaint import masks

FLAGS = flags.FLAGS


class _NumberListParser(flags.ListParser):
  """Comma list of numbers ("1000,2000" or "0.1,0.01"), checked at parse time."""

  def __init__(self, kind):
    super().__init__()
    self._kind = kind

  def parse(self, argument):
    items = super().parse(argument)
    try:
      values = [self._kind(v) for v in items]
    except ValueError:
      raise ValueError(f"expected a comma-separated list of {self._kind.__name__}s, "
                       f"got {argument!r}") from None
    if not all(math.isfinite(v) for v in values):
      raise ValueError(f"expected finite numbers, got {argument!r}")
    return values

  def flag_type(self):
    return f"comma-separated list of {self._kind.__name__}s"


def _number_list(name, default, help_text, kind):
  flags.DEFINE(_NumberListParser(kind), name, default, help_text,
               serializer=flags.CsvListSerializer(","))


def _range(name, low=None, high=None, *, low_open=False):
  """Validator: unset (None) or a finite number in [low, high] ((low, high] with low_open)."""
  def ok(v):
    if v is None:
      return True
    if not math.isfinite(v):
      return False
    if low is not None and (v <= low if low_open else v < low):
      return False
    return high is None or v <= high
  lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
  hi = "" if high is None else f"<= {high:g}"
  flags.register_validator(name, ok, message=f"--{name} must be a finite number "
                           f"{' and '.join(x for x in (lo, hi) if x)}".rstrip())


DATASET_KINDS = ("tfds", "idx", "folder", "sheet", "synthetic")

# ----------------------------------------------------------------------------- data
flags.DEFINE_string(
    "dataset", None,
    "Dataset spec: tfds:NAME (mnist, fashion_mnist, cars196: prepared data in --data_dir, "
    "or the hand-downloaded archives in --manual_dir) | idx:DIR (MNIST-format files) | "
    "folder:DIR (one sub-folder per class) | sheet:PNG[?cell=20&per_class=500] (a tiled sheet "
    "such as OpenCV's digits.png) | synthetic (deterministic, for tests).")
flags.register_validator(
    "dataset",
    lambda v: v is None or v == "synthetic" or (":" in v and v.split(":", 1)[0] in DATASET_KINDS
                                                and v.split(":", 1)[1] != ""),
    message="--dataset must be tfds:NAME, idx:DIR, folder:DIR, sheet:PNG or synthetic")
flags.DEFINE_string("manual_dir", None,
                    "tfds: folder of hand-downloaded archives (Stanford Cars: cars_train.tgz, "
                    "cars_test.tgz, car_devkit.tgz, cars_test_annos_withlabels.mat).")
flags.DEFINE_string("data_dir", None, "tfds: folder of prepared datasets (~/tensorflow_datasets).")
flags.DEFINE_integer("image_size", None, "Square image size in pixels (default: the model's).")
flags.DEFINE_integer("channels", None, "1 (grey) or 3 (RGB) (default: the model's).")
flags.register_validator("channels", lambda v: v in (None, 1, 3),
                         message="--channels must be 1 or 3")
_range("image_size", 8, 1024)
flags.DEFINE_boolean("flip", False, "Augment training data with random horizontal flips.")
flags.DEFINE_boolean("skip_bad_files", False,
                     "folder: datasets: leave out image files that cannot be decoded (their "
                     "count is printed) instead of stopping at the first one.")

# ----------------------------------------------------------------------------- training
flags.DEFINE_string("model", None,
                    "Network: lenet / googlenet (classifier-guided, paper 003; GoogLeNet also "
                    "feeds paper 000's losses), dcgan (paper 000's prior), judge (the MLP that "
                    "judges fills in bin.evaluate). bin.client: the served model's name.")
flags.DEFINE_string("workdir", None, "Training folder: checkpoints/ and summaries/ (TensorBoard).")
flags.DEFINE_enum("train_split", "train", ["train", "fit"],
                  "Data to train on: train (all), or fit (train minus the validation carve, "
                  "every 10th example, kept for tuning).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy: one device, the local devices (--devices), or "
                  "multi-worker (TF_CONFIG).")
flags.DEFINE_list("devices", [],
                  "Devices of --strategy=mirrored, e.g. GPU:0,GPU:1 or CPU:0,CPU:1 (default: all "
                  "GPUs, else all logical CPUs).")
flags.DEFINE_boolean("mixed_precision", False,
                     "GPU only: train in mixed_float16 (float16 compute, float32 variables) "
                     "with dynamic loss scaling. Refused without a GPU.")
flags.DEFINE_boolean("memory_growth", False,
                     "GPU only: let TensorFlow take GPU memory as needed instead of all at once "
                     "(no-op without a GPU).")
flags.DEFINE_integer("num_steps", None, "Training steps (default: lenet 2000, googlenet 20000, "
                     "dcgan 13000, judge 3000).")
flags.DEFINE_integer("batch_size", None, "Images per batch (training: global batch, default 64; "
                     "inpainting: images per call, default 64).")
flags.DEFINE_float("learning_rate", None,
                   "Peak training learning rate (default: 1e-3 classifiers, 2e-4 dcgan).")
_number_list("lr_boundaries", [], "Piecewise-constant schedule: steps where the rate changes.",
             int)
_number_list("lr_values", [], "Rates of the schedule, one more than --lr_boundaries.", float)
flags.DEFINE_float("beta1", 0.5, "Adam beta1 of the DCGAN.")
flags.DEFINE_boolean("patch_training", True,
                     "Train the classifier on random rectangular patches of each image "
                     "(paper 003; essential for inpainting).")
flags.DEFINE_integer("patch_repeats", 5, "Patch copies of each image.")
flags.DEFINE_integer("patch_min", 7, "Smallest patch side in pixels (at 28x28; scaled).")
flags.DEFINE_integer("patch_max", 20, "Largest patch side in pixels (at 28x28; scaled).")
flags.DEFINE_boolean("face_patches", False,
                     "Face variant: dark, information-free patches are replaced by the whole "
                     "image (paper 003, Yale B).")
flags.DEFINE_float("aux_weight", 0.3, "GoogLeNet auxiliary-head loss weight.")
flags.DEFINE_float("adversarial_epsilon", 0.0,
                   "Classifiers: train on L2 PGD adversarial examples of this radius (in the "
                   "network's [-1, 1] pixel units; 0 = off). Robust gradients are perceptual "
                   "(Santurkar et al. 2019): the classifier-guided fills become strokes.")
flags.DEFINE_integer("adversarial_steps", 7, "Classifiers: PGD steps per adversarial example.")
flags.DEFINE_float("width", 1.0, "Width multiplier: lenet/googlenet channels, dcgan filters "
                   "(x64).")
flags.DEFINE_integer("z_dim", 100, "DCGAN latent size.")
flags.DEFINE_float("dropout", 0.3, "Dropout before the logits (googlenet, judge).")
flags.DEFINE_string("googlenet_npy", None, "Caffe GoogLeNet weights (.npy) to start from.")
flags.DEFINE_list("freeze", ["inception_4a", "inception_4b", "inception_4c"],
                  "GoogLeNet modules kept frozen when --googlenet_npy is loaded.")
flags.DEFINE_integer("log_every", 100, "Steps between progress lines and summaries.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("sample_every", 1000, "DCGAN: steps between sample grids.")
flags.DEFINE_boolean("restart_from_scratch", False,
                     "Discard the checkpoints in --workdir and start again (only when they "
                     "cannot be restored; a healthy workdir always resumes).")
for _name in ("num_steps", "batch_size", "patch_repeats", "patch_min", "patch_max", "z_dim",
              "log_every", "checkpoint_every", "sample_every"):
  _range(_name, 1, 10**9)
_range("learning_rate", 0.0, 10.0, low_open=True)
_range("width", 0.0, 16.0, low_open=True)
_range("beta1", 0.0, 0.999999)
_range("aux_weight", 0.0, 100.0)
_range("adversarial_epsilon", 0.0, 100.0)
_range("adversarial_steps", 1, 100)
_range("dropout", 0.0, 0.99)

# ----------------------------------------------------------------------------- export
flags.DEFINE_string("export_dir", None, "Export folder exported/<name> (TF Serving's "
                    "--model_base_path): <version>/ SavedModels, networks/, MODEL_CARD.md.")
flags.DEFINE_integer("export_version", None,
                     "Version folder to write (default: the next free one).")
flags.DEFINE_boolean("overwrite", False,
                     "bin.export: replace an existing version, networks/ or judge/.")
flags.DEFINE_string("from_networks", None,
                    "bin.export: re-export the trained networks of this networks/ folder (or "
                    "export folder) instead of restoring --workdir.")
flags.DEFINE_string("classifier_workdir", None,
                    "bin.export of a dcgan: workdir of the trained GoogLeNet for the semantic "
                    "and categorical losses.")
flags.DEFINE_float("classifier_width", None, "Width of that GoogLeNet (default: its flags.txt).")
flags.DEFINE_string("samples", None, "bin.export: shipped sample set the model fits (digits, "
                    "fashion), shown by bin.inpaint by default.")
flags.DEFINE_integer("max_iterations", None,
                     "bin.export: no request runs more iterations than this.")
flags.DEFINE_integer("block_rows", None,
                     "bin.export: rows per fixed-size block of the descent (results do not "
                     "depend on the batch; a single image pays for a whole block: smaller "
                     "blocks answer one image faster, larger ones batches).")
flags.DEFINE_enum("init", None, ["diffusion", "class_mean", "zeros"],
                  "bin.export, classifier-guided: initial fill of the hole.")
flags.DEFINE_enum("preset", None, ["yeh", "semantic", "full"],
                  "bin.export, semantic: the preset of serving_default.")
_range("export_version", 1, 10**9)
_range("max_iterations", 1, 10**6)
_range("block_rows", 1, 1024)

# ----------------------------------------------------------------------------- inpainting
flags.DEFINE_string("method", None,
                    "Method: classifier / tv_only / init_only / illumination (classifier-guided "
                    "models), yeh / semantic / full (semantic models), telea / navier_stokes / "
                    "patchmatch (classical; the baselines extra). Default: the model's own.")
flags.DEFINE_list("methods", None, "bin.evaluate: methods to compare (default: the installed "
                  "baselines and every method of the models).")
flags.DEFINE_list("model_dir", None,
                  "Exported model folder(s) exported/<name> (the latest version) or a version "
                  "folder. Default: the shipped models.")
flags.DEFINE_enum("mask", "center", list(masks.NAMES) + ["file"],
                  "Mask: center = central square of 25% of the area, left = left half, random "
                  "= each pixel missing with probability --mask_ratio, pattern = irregular "
                  "blobs, file = --mask_file/--mask_files.")
flags.DEFINE_list("masks", ["center", "left", "random"], "bin.evaluate: named masks (Table 1).")
flags.DEFINE_string("mask_file", None, "Mask image for every input: white (non-zero) = region "
                    "to fill, black = keep (the OpenCV/IOPaint convention); the image's size.")
flags.DEFINE_list("mask_files", None, "One mask image per input (comma list in input order, or "
                  "a folder whose sorted files pair with the sorted inputs); white = fill.")
flags.DEFINE_float("mask_ratio", 0.8, "random mask: probability that a pixel is missing.")
flags.register_validator("mask_ratio", lambda v: v is not None and 0.0 < v < 1.0,
                         message="--mask_ratio must be in (0, 1)")
flags.DEFINE_string("input", None, "Image(s) to inpaint: a file, a comma list, or a folder. "
                    "Default: the real held-out samples shipped for the model.")
flags.DEFINE_boolean("resize", False, "Resize inputs to the model's size even when that changes "
                     "the aspect ratio or scales by more than 4x (refused otherwise).")
flags.DEFINE_string("output_dir", None, "Where results go (default ./out/<command>); replaced as "
                    "a whole when the run succeeds, untouched when it fails.")
flags.DEFINE_integer("num_images", None, "Images to use (inpaint: all inputs; evaluate: 100 "
                     "test images, stratified by class).")
flags.DEFINE_integer("label", None, "Methods that take labels: the label every fill should have; "
                     "-1 = try every label, lowest energy wins (paper 003, 4.4.3). Default: "
                     "the images' known labels (shipped samples, --labels_file, '<label>_' file "
                     "names), else -1.")
flags.DEFINE_string("labels_file", None, "CSV of file name,label for the --input images.")
flags.DEFINE_enum("eval_split", "test", ["test", "validation"],
                  "bin.evaluate: the split to score: test (report), or validation (every 10th "
                  "training example; tune settings there, never on test).")
flags.DEFINE_boolean("true_labels", True, "bin.evaluate: give label-aware methods the true "
                     "labels (--notrue_labels: -1, try every label).")
flags.DEFINE_float("illumination_threshold", None,
                   "Illumination mode (paper 003, 4.4.2): every pixel darker than this value in "
                   "(0, 1] is the hole.")
flags.DEFINE_string("judge", None, "bin.evaluate: folder of the independent judge (default: "
                    "<model_dir>/judge when present).")
flags.DEFINE_integer("grid_images", 10, "bin.evaluate: images per example grid (every class "
                     "first).")
flags.DEFINE_integer("grid_scale", None, "Integer upscaling of grid cells (default: cells of "
                     ">= 96 px).")
for _name in ("num_images", "grid_images"):
  _range(_name, 1, 10**6)
_range("grid_scale", 1, 16)
_range("label", -1, 10**6)
_range("illumination_threshold", 0.0, 1.0, low_open=True)

# ------------------------------------------------------ request options (signature inputs)
# Set: sent with every request (and, for bin.export, the exported default). Unset: the model's.
OPTION_FLAGS = {  # flag -> signature option (and inpainter config field)
    "iterations": "iterations", "seed": "seed", "step_size": "step_size",
    "lambda_tv": "lambda_tv", "tv_band": "tv_band", "epsilon": "epsilon", "jitter": "jitter",
    "binary_weight": "binary_weight", "content_weight": "content_weight",
    "snapshot_every": "snapshot_every", "lambda_c": "lambda_c", "lambda_p": "lambda_p",
    "lambda_inp": "lambda_inp", "lambda_sem": "lambda_sem", "lambda_cat": "lambda_cat",
    "z_learning_rate": "learning_rate", "z_momentum": "momentum", "num_starts": "num_starts",
    "boundary_scale": "boundary_scale", "patience": "patience", "tolerance": "tolerance",
    "trace_all": "trace_all",
}
flags.DEFINE_integer("iterations", None, "Optimisation iterations (clipped to the model's cap).")
flags.DEFINE_integer("seed", None, "Random seed (default 0).")
flags.DEFINE_float("step_size", None, "classifier-guided: gradient step on the missing pixels.")
flags.DEFINE_float("lambda_tv", None, "classifier-guided: weight of the masked total variation.")
flags.DEFINE_integer("tv_band", None, "classifier-guided: TV only within this many pixels of the "
                     "hole; -1 = the whole image.")
flags.DEFINE_float("epsilon", None, "Stop when the gradient norm is below this (classifier: per "
                   "image; semantic: per start; 0 = never).")
flags.DEFINE_integer("jitter", None, "classifier-guided: largest random shift per iteration.")
flags.DEFINE_float("binary_weight", None, "classifier-guided: black/white penalty weight.")
flags.DEFINE_float("content_weight", None, "classifier-guided: classifier term weight (0 = TV "
                   "only).")
flags.DEFINE_integer("snapshot_every", None, "classifier-guided: keep the image every N "
                     "iterations (paper 003, Figure 6; 0 = off).")
flags.DEFINE_float("lambda_c", None, "semantic: context loss weight.")
flags.DEFINE_float("lambda_p", None, "semantic: prior loss weight (paper 0.003).")
flags.DEFINE_float("lambda_inp", None, "semantic: inpainting loss weight (large holes).")
flags.DEFINE_float("lambda_sem", None, "semantic: semantic loss weight (large holes).")
flags.DEFINE_float("lambda_cat", None, "semantic: categorical loss weight (large holes).")
flags.DEFINE_float("z_learning_rate", None, "semantic: Nesterov learning rate on z.")
flags.DEFINE_float("z_momentum", None, "semantic: Nesterov momentum on z.")
flags.DEFINE_integer("num_starts", None, "semantic: random starts of z per image; best kept.")
flags.DEFINE_boolean("trace_all", None, "semantic: trace every loss term, also those the preset "
                     "does not optimise (the Figure 3 chart); slower for yeh.")
flags.DEFINE_float("boundary_scale", None, "semantic: factor on lambda_inp/sem/cat for masks "
                   "with many boundary pixels (paper: 10 for random masks; 1 = off).")
flags.DEFINE_integer("patience", None, "Stop an image (classifier) or a start (semantic) after "
                     "this many iterations without improvement of its objective (0 = never).")
flags.DEFINE_float("tolerance", None, "Relative improvement that counts for --patience.")
_range("patience", 0, 10**6)
_range("tolerance", 0.0, 1.0)
_range("iterations", 0, 10**9)
_range("seed", 0, 2**31 - 1)
_range("step_size", 0.0, 1e3, low_open=True)
_range("z_learning_rate", 0.0, 10.0, low_open=True)
_range("z_momentum", 0.0, 0.999)
_range("tv_band", -1, 10**4)
_range("jitter", 0, 64)
_range("snapshot_every", 0, 10**6)
_range("num_starts", 1, 64)
for _name in ("lambda_tv", "epsilon", "binary_weight", "content_weight"):
  _range(_name, 0.0, 1e3)
for _name in ("lambda_c", "lambda_p", "lambda_inp", "lambda_sem", "lambda_cat", "boundary_scale"):
  _range(_name, 0.0, 1e9)

# ----------------------------------------------------------------------------- benchmark, client
flags.DEFINE_list("benchmarks", ["classifier", "semantic", "serving", "matmul"],
                  "bin.benchmark: which measurements to run.")
flags.DEFINE_boolean("paper_scale", False, "bin.benchmark: time the cars configs at paper size.")
flags.DEFINE_string("server", "localhost:8501", "bin.client: TF Serving REST host:port (gRPC: "
                    "host:8500 with --protocol=grpc).")
flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "bin.client: TF Serving API.")
flags.DEFINE_integer("timeout", 600, "bin.client: seconds to wait for the server.")
_range("timeout", 1, 86400)


# ----------------------------------------------------------------------------- per command
KEY_FLAGS = {
    "train": ("model", "dataset", "workdir", "train_split", "strategy", "devices",
              "mixed_precision", "memory_growth", "num_steps",
              "batch_size", "learning_rate", "lr_boundaries", "lr_values", "image_size",
              "channels", "manual_dir", "data_dir", "flip", "skip_bad_files", "seed", "beta1",
              "patch_training", "patch_repeats", "patch_min", "patch_max", "face_patches",
              "aux_weight", "adversarial_epsilon", "adversarial_steps", "width", "z_dim",
              "dropout", "googlenet_npy", "freeze", "log_every",
              "checkpoint_every", "sample_every", "restart_from_scratch"),
    "export": ("model", "workdir", "from_networks", "export_dir", "export_version", "overwrite",
               "dataset", "manual_dir", "data_dir", "image_size", "channels", "width", "z_dim",
               "dropout", "classifier_workdir", "classifier_width", "samples", "max_iterations",
               "block_rows", "init", "preset") + tuple(OPTION_FLAGS),
    "inpaint": ("input", "model_dir", "method", "mask", "mask_file", "mask_files", "mask_ratio",
                "label", "labels_file", "illumination_threshold", "num_images", "batch_size",
                "resize", "output_dir", "grid_scale") + tuple(OPTION_FLAGS),
    "evaluate": ("dataset", "eval_split", "model_dir", "methods", "masks", "num_images",
                 "true_labels", "judge", "mask_ratio", "batch_size", "output_dir", "grid_images",
                 "grid_scale", "manual_dir", "data_dir", "skip_bad_files") + tuple(OPTION_FLAGS),
    "benchmark": ("benchmarks", "paper_scale", "model_dir", "batch_size", "iterations",
                  "output_dir"),
    "client": ("server", "protocol", "model", "method", "input", "mask", "mask_file",
               "mask_files", "mask_ratio", "label", "labels_file", "illumination_threshold",
               "num_images", "resize", "output_dir", "timeout", "grid_scale")
              + tuple(OPTION_FLAGS),
}
HELP = {  # texts that differ by command
    "train": {"seed": "Seed of the initial weights, the data order, patches and flips (default "
                      "0).",
              "batch_size": "Global batch size (default 64).",
              "image_size": "Square training image size (default: lenet/judge 28, googlenet and "
                            "dcgan 64)."},
    "export": {"seed": "Exported default seed of the inpainters' random starts and jitter.",
               "iterations": "The exported default iteration count of a request.",
               "dataset": "The dataset the networks were trained on (classes, test accuracy, "
                          "class means)."},
    "inpaint": {"seed": "Seed of the named masks and of the inpainters' random starts / jitter "
                        "(default 0).",
                "batch_size": "Images per call of the model (default 64)."},
    "evaluate": {"seed": "Seed of the stratified image sample, the masks and the inpainters "
                         "(default 0).",
                 "dataset": "Dataset whose test split is evaluated (default: the model's)."},
    "benchmark": {"batch_size": "Largest batch of the throughput curve (default 64).",
                  "iterations": "Iterations per timed request (default: per benchmark)."},
    "client": {"model": "The served model's name (tensorflow_model_server --model_name).",
               "seed": "Seed of the named masks and of the model's random starts / jitter.",
               "method": "Method / signature: serving_default (default), the semantic presets, "
                         "illumination, tv_only, init_only."},
}


def declare(command):
  """Makes `command`'s flags key flags (listed first by --help) with the command's help texts."""
  import sys  # pylint: disable=g-import-not-at-top
  for name in KEY_FLAGS[command]:  # absl files a main's key flags under sys.argv[0]
    FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
  for name, text in HELP.get(command, {}).items():
    FLAGS[name].help = text


def value(name, default):
  """The flag's value when set (not None), else `default`."""
  v = FLAGS[name].value
  return default if v is None else v


def require(name, why):
  v = FLAGS[name].value
  if v in (None, "", []):
    from tfinpaint.errors import InputError  # pylint: disable=g-import-not-at-top
    raise InputError(f"--{name} is required {why}")
  return v


def request_options():
  """{signature option: value} for the option flags the user set."""
  return {option: FLAGS[name].value for name, option in OPTION_FLAGS.items()
          if FLAGS[name].value is not None}


def serialized():
  """The set flags as flagfile lines (for workdir/flags.txt)."""
  ours = FLAGS.get_flags_for_module("bin.flags")
  return [f.serialize() for f in sorted(ours, key=lambda f: f.name) if not f.using_default_value]


def train_settings():
  from tfinpaint.training import runner  # pylint: disable=g-import-not-at-top
  F = FLAGS
  return runner.TrainSettings(
      model=require("model", "(lenet, googlenet, dcgan or judge)"),
      dataset=require("dataset", "(tfds:NAME, idx:DIR, folder:DIR, sheet:PNG or synthetic)"),
      workdir=require("workdir", "(checkpoints and summaries go there)"),
      split=F.train_split, image_size=F.image_size, channels=F.channels,
      manual_dir=F.manual_dir, data_dir=F.data_dir, flip=F.flip,
      skip_bad_files=F.skip_bad_files, seed=value("seed", 0), strategy=F.strategy,
      devices=tuple(F.devices), mixed_precision=F.mixed_precision,
      memory_growth=F.memory_growth, num_steps=F.num_steps, batch_size=value("batch_size", 64),
      learning_rate=F.learning_rate, lr_boundaries=tuple(F.lr_boundaries),
      lr_values=tuple(F.lr_values), beta1=F.beta1, patch_training=F.patch_training,
      patch_repeats=F.patch_repeats, patch_min=F.patch_min, patch_max=F.patch_max,
      face_patches=F.face_patches, aux_weight=F.aux_weight,
      adversarial_epsilon=F.adversarial_epsilon, adversarial_steps=F.adversarial_steps,
      width=F.width, z_dim=F.z_dim,
      dropout=F.dropout, googlenet_npy=F.googlenet_npy, freeze=tuple(F.freeze),
      log_every=F.log_every, checkpoint_every=F.checkpoint_every, sample_every=F.sample_every,
      restart_from_scratch=F.restart_from_scratch)


def export_settings():
  from tfinpaint import release  # pylint: disable=g-import-not-at-top
  F = FLAGS
  config = request_options()
  for flag, field in (("max_iterations", "max_iterations"), ("init", "init"),
                      ("preset", "preset"), ("block_rows", "block_rows")):
    if F[flag].value is not None:
      config[field] = F[flag].value
  config.pop("content_weight", None)  # a request option only (the ablation), not a default
  config.pop("snapshot_every", None)
  config.pop("trace_all", None)
  return release.ExportSettings(
      model=F.model if F.from_networks else require("model", "(lenet, googlenet, dcgan or judge)"),
      export_dir=require("export_dir", "(e.g. exported/my_digits_lenet)"),
      workdir=F.workdir, from_networks=F.from_networks, classifier_workdir=F.classifier_workdir,
      classifier_width=F.classifier_width, dataset=F.dataset, image_size=F.image_size,
      channels=F.channels, manual_dir=F.manual_dir, data_dir=F.data_dir, width=F.width,
      z_dim=F.z_dim, dropout=F.dropout, version=F.export_version, overwrite=F.overwrite,
      samples=F.samples, config=config)


def inpaint_settings():
  from tfinpaint import inpaint  # pylint: disable=g-import-not-at-top
  F = FLAGS
  options = request_options()
  return inpaint.Settings(
      input=F.input, model_dirs=tuple(F.model_dir or ()), method=F.method, mask=F.mask,
      mask_file=F.mask_file, mask_files=tuple(F.mask_files or ()), mask_ratio=F.mask_ratio,
      seed=value("seed", 0), label=F.label, labels_file=F.labels_file,
      illumination_threshold=F.illumination_threshold, options=options,
      num_images=F.num_images, batch_size=value("batch_size", 64), resize=F.resize,
      output_dir=value("output_dir", "out/inpaint"), grid_scale=F.grid_scale)


def evaluate_settings():
  from tfinpaint import evaluation  # pylint: disable=g-import-not-at-top
  F = FLAGS
  model_dirs = tuple(F.model_dir or ())
  if not model_dirs and not F.methods:
    from tfinpaint import inpaint  # pylint: disable=g-import-not-at-top
    model_dirs = tuple(p for p in (inpaint.find_shipped(inpaint.SHIPPED[0]),) if p)
  return evaluation.Settings(
      model_dirs=model_dirs, dataset=F.dataset, split=F.eval_split, manual_dir=F.manual_dir,
      data_dir=F.data_dir, skip_bad_files=F.skip_bad_files, methods=tuple(F.methods or ()),
      masks=tuple(F.masks),
      num_images=value("num_images", 100), seed=value("seed", 0), mask_ratio=F.mask_ratio,
      give_labels=F.true_labels, judge=F.judge, options=request_options(),
      batch_size=value("batch_size", 64), output_dir=value("output_dir", "out/evaluate"),
      grid_images=F.grid_images, grid_scale=F.grid_scale)


def benchmark_settings():
  from tfinpaint import benchmark  # pylint: disable=g-import-not-at-top
  F = FLAGS
  top = value("batch_size", 64)
  sizes = tuple(sorted({b for b in (1, 8, 32, 64) if b <= top} | {top}))
  return benchmark.Settings(benchmarks=tuple(F.benchmarks), model_dirs=tuple(F.model_dir or ()),
                            batch_sizes=sizes, iterations=F.iterations,
                            paper_scale=F.paper_scale,
                            output_dir=value("output_dir", "out/benchmark"))


def client_settings():
  """(server, model name, protocol, timeout, inpaint.Settings) of a bin.client run."""
  settings = inpaint_settings()
  settings.input = require("input", "(the images to send to the server)")
  settings.output_dir = value("output_dir", "out/client")
  return (FLAGS.server, require("model", "(the served model's name)"), FLAGS.protocol,
          FLAGS.timeout, settings)
