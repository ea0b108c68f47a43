"""Every command-line flag of every tfinpaint CLI, defined once.

Why one module: an experiment is a flagfile (configs/*.flags), and the same
file is passed to bin.train, bin.export, bin.evaluate and bin.inpaint. absl
rejects unknown flags, so every main must know every flag: each main imports
this module, and no flag is defined anywhere else. Library code never reads
these values; the mains turn them into plain arguments.

Flags whose default is None mean "the command's own default" (stated in the
help) or "whatever the exported model was built with" for inpainting
hyper-parameters: set them only to override.
"""

from absl import flags

# TensorFlow-free library modules: the names users may pass, defined once in the library.
from tfinpaint import masks, methods


class _NumberListParser(flags.ListParser):
  """Comma list of numbers ("1000,2000" or "0.1,0.01"), checked at parse time."""

  def __init__(self, kind):
    super().__init__()
    self._kind = kind

  def parse(self, argument):
    items = super().parse(argument)
    try:
      return [self._kind(v) for v in items]
    except ValueError:
      raise ValueError(f"expected a comma-separated list of {self._kind.__name__}s, "
                       f"got {argument!r}") from None

  def flag_type(self):
    return f"comma-separated list of {self._kind.__name__}s"


def _define_number_list(name, default, help_text, kind):
  flags.DEFINE(_NumberListParser(kind), name, default, help_text,
               serializer=flags.CsvListSerializer(","))


def _positive(name):
  flags.register_validator(name, lambda v: v is None or v > 0, message=f"--{name} must be > 0")


def _non_negative(name):
  flags.register_validator(name, lambda v: v is None or v >= 0, message=f"--{name} must be >= 0")


METHODS = ("auto",) + methods.NAMES
DATASET_KINDS = ("tfds", "idx", "folder", "sheet", "synthetic")

# ----------------------------------------------------------------------------- data
flags.DEFINE_string(
    "dataset", None,
    "Dataset spec: tfds:NAME (mnist, fashion_mnist, cars196; no downloads, see "
    "--data_dir/--manual_dir) | idx:DIR (MNIST-format *-idx?-ubyte[.gz] files) | folder:DIR "
    "(one sub-folder per class) | sheet:PNG[?cell=20&per_class=500] (tiled sheet such as "
    "OpenCV's digits.png) | synthetic (deterministic, for tests). bin.evaluate without "
    "--dataset uses the sample images shipped in the package.")
flags.register_validator(
    "dataset",
    lambda v: v is None or v == "synthetic" or (":" in v and v.split(":", 1)[0] in DATASET_KINDS
                                                and v.split(":", 1)[1] != ""),
    message="--dataset must be tfds:NAME, idx:DIR, folder:DIR, sheet:PNG or synthetic")
flags.DEFINE_string("manual_dir", None,
                    "tfds manual_dir holding hand-downloaded archives (e.g. Stanford Cars).")
flags.DEFINE_string("data_dir", None, "tfds data_dir with prepared datasets.")
flags.DEFINE_integer("image_size", None,
                     "Square image size in pixels (default: the model's; bin.inpaint keeps "
                     "the inputs' size for baselines; 28 otherwise).")
flags.DEFINE_integer("channels", None, "1 (grey) or 3 (RGB); default: the model's / the data's.")
flags.register_validator("channels", lambda v: v in (None, 1, 3),
                         message="--channels must be 1 or 3")
_positive("image_size")
flags.DEFINE_boolean("flip", False, "Augment training data with horizontal flips.")

# ----------------------------------------------------------------------------- training
flags.DEFINE_string("workdir", None,
                    "Training directory: checkpoints/ and summaries/ (TensorBoard). A run "
                    "restarted with the same workdir resumes. bin.export restores from it.")
flags.DEFINE_string("classifier_workdir", None,
                    "bin.export for the semantic method: workdir of the trained GoogLeNet "
                    "(--workdir is then the DCGAN's).")
flags.DEFINE_float("classifier_width", None,
                   "Width multiplier of the GoogLeNet in --classifier_workdir (default: the "
                   "value saved in its flags.txt, else 1.0).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy: one device, all local devices, or multi-worker "
                  "(TF_CONFIG).")
flags.DEFINE_enum("model", None, ["lenet", "dcgan", "googlenet"], "Network to train / export.")
flags.DEFINE_integer("num_steps", None, "Training steps (default: 2000 lenet, 13000 dcgan, "
                     "20000 googlenet).")
flags.DEFINE_integer("batch_size", None, "Global batch size for training (default 64) and "
                     "images per inpainting batch in bin.evaluate (default 50).")
flags.DEFINE_float("learning_rate", None,
                   "Peak learning rate (default: 1e-3 classifiers, 2e-4 dcgan).")
_define_number_list("lr_boundaries", [],
                    "Piecewise-constant schedule: steps where the learning rate changes.", int)
_define_number_list("lr_values", [],
                    "Learning rates for the schedule, one more than --lr_boundaries.", float)
flags.DEFINE_float("beta1", 0.5, "Adam beta1 for the DCGAN.")
flags.DEFINE_boolean("patch_training", True,
                     "Train the classifier on random rectangular patches of each image "
                     "(paper 003: essential for inpainting).")
flags.DEFINE_integer("patch_repeats", 5, "Patch copies per image per batch.")
flags.DEFINE_integer("patch_min", 7, "Smallest patch side in pixels.")
flags.DEFINE_integer("patch_max", 20, "Largest patch side in pixels.")
flags.DEFINE_boolean("face_patches", False,
                     "Face variant of patch training: dark, information-free patches are "
                     "replaced by the whole image (paper 003, Yale B).")
flags.DEFINE_float("aux_weight", 0.3, "GoogLeNet auxiliary-head loss weight.")
flags.DEFINE_float("width", 1.0,
                   "Width multiplier: lenet/googlenet channels, dcgan base filters (x64).")
flags.DEFINE_integer("z_dim", 100, "DCGAN latent size.")
flags.DEFINE_float("dropout", 0.3, "GoogLeNet dropout before the logits.")
flags.DEFINE_string("googlenet_npy", None,
                    "Optional Caffe GoogLeNet weights (.npy) to initialise from.")
flags.DEFINE_list("freeze", ["inception_4a", "inception_4b", "inception_4c"],
                  "GoogLeNet modules kept frozen when --googlenet_npy is loaded.")
flags.DEFINE_integer("log_every", 100, "Steps between progress lines / summaries.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("sample_every", 1000, "DCGAN: steps between sample grids.")
for _name in ("num_steps", "batch_size", "learning_rate", "patch_repeats", "patch_min",
              "patch_max", "width", "z_dim", "log_every", "checkpoint_every", "sample_every"):
  _positive(_name)

# ----------------------------------------------------------------------------- export
flags.DEFINE_string("export_dir", None,
                    "Export folder exported/<name>: SavedModels in <version>/ for TF Serving, "
                    "networks/ for the CLIs, MODEL_CARD.md.")
flags.DEFINE_integer("export_version", 1, "Integer SavedModel version folder (TF Serving).")
flags.DEFINE_boolean("overwrite", False, "bin.export: replace an existing --export_version.")
_positive("export_version")
flags.DEFINE_integer("max_iterations", None,
                     "Export: upper clamp for the `iterations` input of inpaint_with_options; "
                     "also the iteration count of serving_default.")
_positive("max_iterations")

# ----------------------------------------------------------------------------- inpainting
flags.DEFINE_enum(
    "method", "auto", list(METHODS),
    "Inpainting method. classifier = paper 003 (needs a classifier model in --model_dir); "
    "tv_only / diffusion_only = its ablations; yeh / semantic / full = paper 000 presets "
    "(context+prior / +inpainting+semantic / +categorical; need a semantic model); "
    "telea / navier_stokes (OpenCV) / patchmatch (pypatchmatch) = classical baselines. "
    "auto = the learned method of --model_dir, else the shipped digits model, else patchmatch.")
flags.DEFINE_list(
    "methods", None,
    "bin.evaluate: methods to compare (names as for --method). Default: the three baselines "
    "plus every method the models in --model_dir provide.")
flags.DEFINE_enum("preset", None, list(methods.SEMANTIC_METHODS),
                  "Semantic inpainting preset baked into an export (default: full).")
flags.DEFINE_list("model_dir", None,
                  "Exported model folder(s) exported/<name> (comma list; bin.evaluate compares "
                  "them). Default for the classifier method: the shipped exported/digits_lenet.")
flags.DEFINE_enum("mask", "center", list(masks.NAMES) + ["file"],
                  "Mask: center = central square of 25% of the area, left = left half, "
                  "random = each pixel missing with probability --mask_ratio, pattern = "
                  "irregular blobs, file = --mask_file/--mask_files.")
flags.DEFINE_list("masks", ["center", "left", "random"],
                  "bin.evaluate: named masks to evaluate (Table 1 of paper 000).")
flags.DEFINE_string("mask_file", None,
                    "Mask image used for every input. White (non-zero) = region to fill, "
                    "black = keep (OpenCV/IOPaint convention); same size as the image. "
                    "Implies --mask=file.")
flags.DEFINE_list("mask_files", None,
                  "One mask image per input (comma list in input order, or a folder whose "
                  "sorted files pair with the sorted inputs). White (non-zero) = region to "
                  "fill. Implies --mask=file.")
flags.DEFINE_float("mask_ratio", 0.8, "random mask: probability that a pixel is missing.")
flags.register_validator("mask_ratio", lambda v: 0.0 < v < 1.0,
                         message="--mask_ratio must be in (0, 1)")
flags.DEFINE_string("input", None,
                    "Image(s) to inpaint: a file, a comma list of files, or a folder (PNG, "
                    "JPEG, PGM, ...). Default: sample digits shipped in the package.")
flags.DEFINE_string("output_dir", None,
                    "Where results go (default ./out/<command>). Written only when the whole "
                    "run succeeded.")
flags.DEFINE_integer("num_images", None,
                     "Images to use (inpaint: all inputs; evaluate: 100 test images; "
                     "benchmark: 32 classifier / 8 semantic per batch).")
flags.DEFINE_integer("iterations", None,
                     "Optimisation iterations for learned methods (default: the model's).")
flags.DEFINE_integer("seed", 0, "Seed for masks and for the stateless RNG of the inpainters.")
flags.DEFINE_integer("label", -1,
                     "classifier method: label the fill should have; -1 = try every label "
                     "and keep the lowest energy (paper 003, 4.4.3).")
flags.DEFINE_float("illumination_threshold", None,
                   "classifier method, illumination mode (paper 003, 4.4.2): the mask is every "
                   "pixel darker than this value in [0, 1]; overrides --mask.")
flags.register_validator("illumination_threshold", lambda v: v is None or 0.0 < v <= 1.0,
                         message="--illumination_threshold must be in (0, 1]")
flags.DEFINE_integer("grid_images", 8, "bin.evaluate: images per example grid.")
flags.DEFINE_integer("grid_scale", None,
                     "Integer upscaling of grid cells (default: so cells are >= 96 px).")
for _name in ("num_images", "iterations", "grid_images", "grid_scale"):
  _positive(_name)
_non_negative("seed")
flags.register_validator("label", lambda v: v >= -1, message="--label must be >= -1")
flags.DEFINE_boolean("true_labels", True,
                     "classifier method with labelled images (shipped samples, --dataset): "
                     "inpaint towards each image's true label as in paper 003; "
                     "--notrue_labels uses --label instead.")

# ----------------------------------------------------------- classifier inpainter (paper 003)
flags.DEFINE_float("step_size", None, "Gradient-descent step size on the missing pixels.")
flags.DEFINE_float("lambda_tv", None, "Weight of the masked total-variation prior.")
flags.DEFINE_integer("tv_band", None,
                     "Apply TV only within this many pixels of the hole (face variant); "
                     "-1 = over the whole image.")
flags.DEFINE_float("epsilon", None, "Stop threshold on the gradient norm (classifier method: "
                   "per image; semantic methods: per random start; 0 = never stop early).")
flags.DEFINE_enum("init", None, ["diffusion", "class_mean", "zeros"],
                  "Initial fill of the hole: boundary diffusion, class average, zeros.")
flags.DEFINE_integer("jitter", None, "Max random shift in pixels per iteration (faces: 1-2).")
flags.DEFINE_float("binary_weight", None, "Penalty pushing pixels to black/white (digits).")
flags.DEFINE_integer("snapshot_every", None, "Keep a snapshot of the fill every N iterations.")
for _name in ("step_size", "lambda_tv", "epsilon", "jitter", "binary_weight", "snapshot_every"):
  _non_negative(_name)
flags.register_validator("tv_band", lambda v: v is None or v >= -1,
                         message="--tv_band must be >= -1")

# ----------------------------------------------------------- semantic inpainter (paper 000)
flags.DEFINE_float("lambda_c", None, "Context loss weight (paper: 1).")
flags.DEFINE_float("lambda_p", None, "Prior loss weight (paper: 0.003).")
flags.DEFINE_float("lambda_inp", None, "Inpainting loss weight (paper: 3 center/left, 30 random).")
flags.DEFINE_float("lambda_sem", None, "Semantic loss weight (paper: 1e5 center/left, 1e6 random).")
flags.DEFINE_float("lambda_cat", None, "Categorical loss weight (paper: 1e6 center/left, 1e7 "
                   "random). Unset lambdas take the paper's values for the mask kind.")
flags.DEFINE_float("z_learning_rate", None, "Nesterov learning rate on z (paper: 0.01).")
flags.DEFINE_float("z_momentum", None, "Nesterov momentum on z (paper: 0.9).")
flags.DEFINE_integer("num_starts", None, "Random starts of z per image; the best is kept.")
flags.DEFINE_integer("blend_iterations", None, "Poisson-blending solver iterations.")
flags.DEFINE_integer("context_window", None, "Odd window of Yeh's context weighting W (7).")
for _name in ("lambda_c", "lambda_p", "lambda_inp", "lambda_sem", "lambda_cat", "z_learning_rate",
              "z_momentum", "num_starts", "blend_iterations", "context_window"):
  _non_negative(_name)

# ----------------------------------------------------------------------------- benchmark
flags.DEFINE_list("benchmarks", ["classifier", "semantic", "matmul"],
                  "bin.benchmark: which measurements to run.")

FLAGS = flags.FLAGS

# Flag -> constructor argument of the inpainters, for flags that override an exported config.
CLASSIFIER_OVERRIDES = {"step_size": "step_size", "lambda_tv": "lambda_tv", "tv_band": "tv_band",
                        "epsilon": "epsilon", "init": "init", "jitter": "jitter",
                        "binary_weight": "binary_weight", "snapshot_every": "snapshot_every"}
SEMANTIC_OVERRIDES = {"z_learning_rate": "learning_rate", "z_momentum": "momentum",
                      "num_starts": "num_starts", "blend_iterations": "blend_iterations",
                      "context_window": "context_window", "epsilon": "epsilon"}
SEMANTIC_WEIGHTS = ("lambda_c", "lambda_p", "lambda_inp", "lambda_sem", "lambda_cat")


def overrides(mapping):
  """{argument: value} for the flags in `mapping` that the user set (non-None)."""
  out = {arg: FLAGS[name].value for name, arg in mapping.items() if FLAGS[name].value is not None}
  if out.get("tv_band") == -1:
    out["tv_band"] = None
  return out


def weight_overrides():
  """{lambda_*: value} for the semantic loss weights the user set."""
  return {n: FLAGS[n].value for n in SEMANTIC_WEIGHTS if FLAGS[n].value is not None}


# Flags each command shows in --help (absl key flags; --helpfull lists all of them).
_DATA = ("dataset", "manual_dir", "data_dir", "image_size", "channels")
_CLASSIFIER_HP = tuple(CLASSIFIER_OVERRIDES)
_SEMANTIC_HP = tuple(SEMANTIC_OVERRIDES) + SEMANTIC_WEIGHTS
KEY_FLAGS = {
    "train": _DATA + ("flip", "model", "workdir", "strategy", "num_steps", "batch_size",
                      "learning_rate", "lr_boundaries", "lr_values", "beta1", "patch_training",
                      "patch_repeats", "patch_min", "patch_max", "face_patches", "aux_weight",
                      "width", "z_dim", "dropout", "googlenet_npy", "freeze", "log_every",
                      "checkpoint_every", "sample_every", "seed"),
    "export": _DATA + ("model", "workdir", "classifier_workdir", "classifier_width", "width",
                       "z_dim", "dropout", "export_dir", "export_version", "overwrite",
                       "max_iterations", "iterations", "seed", "preset") + _CLASSIFIER_HP
              + _SEMANTIC_HP,
    "inpaint": ("input", "output_dir", "method", "model_dir", "mask", "mask_file", "mask_files",
                "mask_ratio", "num_images", "iterations", "seed", "label", "true_labels",
                "illumination_threshold", "image_size", "channels", "batch_size", "grid_scale")
               + _CLASSIFIER_HP + _SEMANTIC_HP,
    "evaluate": _DATA + ("num_images", "masks", "methods", "model_dir", "mask_ratio", "seed",
                         "iterations", "label", "true_labels", "batch_size", "output_dir",
                         "grid_images", "grid_scale") + _CLASSIFIER_HP + _SEMANTIC_HP,
    "benchmark": ("benchmarks", "num_images", "iterations", "seed", "output_dir"),
}
