"""GoogLeNet (Inception v1, Szegedy et al. 2014) as modified by paper 000.

Paper 000 (Section 2.3) uses GoogLeNet as the classifier behind the semantic
and categorical losses, changed for small car images:
  * the first two max-pooling layers (after conv1 and after conv2) are
    removed, so a 64 x 64 input keeps a 32 x 32 map into inception 3a;
  * both auxiliary classifiers (after 4a and 4d) are kept, with 512 hidden
    units instead of 1024;
  * dropout with keep probability 0.7 (rate 0.3) on the fully connected layers;
  * ImageNet weights with modules 4a, 4b, 4c frozen (`load_caffe_npy`).

Layers carry the Caffe names of bvlc_googlenet ("conv1_7x7_s2",
"inception_3a_3x3_reduce", "loss1_fc", ...), so a Caffe-converted
googlenet.npy maps onto the model name by name. Each inception module's output
is the Concatenate layer named "inception_3a" ... "inception_5b"; `endpoints`
exposes any of them together with the logits for the semantic loss.

Input: images [N, H, W, C] in [-1, 1] like every tfinpaint model, any H, W >= 17
(32 or more recommended); `width` scales every channel count so small CPU
variants exist. Output: dict {"logits", "aux1", "aux2"} (aux only with
aux_heads), all pre-softmax.
"""

import dataclasses
import os

import numpy as np
import keras
from keras import layers
import tensorflow as tf

from tfinpaint import config
from tfinpaint.errors import InputError
from tfinpaint.models import NetworkConfig

# name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), Table 1 of Szegedy et al.
INCEPTION = {
    "inception_3a": (64, 96, 128, 16, 32, 32),
    "inception_3b": (128, 128, 192, 32, 96, 64),
    "inception_4a": (192, 96, 208, 16, 48, 64),
    "inception_4b": (160, 112, 224, 24, 64, 64),
    "inception_4c": (128, 128, 256, 24, 64, 64),
    "inception_4d": (112, 144, 288, 32, 64, 64),
    "inception_4e": (256, 160, 320, 32, 128, 128),
    "inception_5a": (256, 160, 320, 32, 128, 128),
    "inception_5b": (384, 192, 384, 48, 128, 128),
}
MODULES = tuple(INCEPTION)
AUX_HIDDEN = 512  # paper 000: "two auxiliary classifiers ... each with 512 hidden units".
_BRANCHES = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
# Caffe bvlc_googlenet was trained on BGR 0..255 images minus this mean (BGR order).
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


@keras.saving.register_keras_serializable(package="tfinpaint")
class LocalResponseNorm(layers.Layer):
  """Caffe LRN across channels (local_size 5, alpha 1e-4, beta 0.75), as in bvlc_googlenet."""

  def __init__(self, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, **kwargs):
    super().__init__(**kwargs)
    self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

  def call(self, x):
    return tf.nn.local_response_normalization(x, self.depth_radius, self.bias, self.alpha,
                                              self.beta)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return dict(super().get_config(), depth_radius=self.depth_radius, bias=self.bias,
                alpha=self.alpha, beta=self.beta)


def _conv(x, filters, kernel, name, strides=1):
  return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu",
                       name=name)(x)


def _inception(x, name, width):
  c1, c3r, c3, c5r, c5, cp = (max(1, round(c * width)) for c in INCEPTION[name])
  b1 = _conv(x, c1, 1, f"{name}_1x1")
  b3 = _conv(_conv(x, c3r, 1, f"{name}_3x3_reduce"), c3, 3, f"{name}_3x3")
  b5 = _conv(_conv(x, c5r, 1, f"{name}_5x5_reduce"), c5, 5, f"{name}_5x5")
  bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
  bp = _conv(bp, cp, 1, f"{name}_pool_proj")
  return layers.Concatenate(name=name)([b1, b3, b5, bp])


def _aux_head(x, name, num_classes, width, dropout):
  x = layers.AveragePooling2D(5, strides=3, padding="valid", name=f"{name}_ave_pool")(x)
  x = _conv(x, max(1, round(128 * width)), 1, f"{name}_conv")
  x = layers.Flatten(name=f"{name}_flatten")(x)
  x = layers.Dense(max(1, round(AUX_HIDDEN * width)), activation="relu", name=f"{name}_fc")(x)
  x = layers.Dropout(dropout, name=f"{name}_drop_fc")(x)
  return layers.Dense(num_classes, name=f"{name}_classifier")(x)


def build(image_shape, num_classes, *, width, dropout, aux_heads):
  """Builds the modified GoogLeNet; see the module docstring.

  Args:
    image_shape: (H, W, C) of [-1, 1] input images; H, W >= 17 (the 5x5 / 3
      auxiliary pooling needs a 5 x 5 map after inception 4a, which sees H / 4).
    num_classes: number of logits.
    width: multiplier for every channel count (1.0 = the paper's network,
      the only width `load_caffe_npy` accepts).
    dropout: drop rate of the fully connected layers (paper: keep 0.7 -> 0.3).
    aux_heads: add the two auxiliary classifiers (after 4a and 4d).
  Returns:
    keras.Model named "googlenet": image -> {"logits", "aux1", "aux2"}
    (aux keys only with aux_heads), each [N, num_classes].
  """
  if len(image_shape) != 3 or image_shape[-1] < 1:
    raise InputError(f"image_shape must be (H, W, C), got {image_shape}")
  height, width_px, _ = (int(s) for s in image_shape)
  if min(height, width_px) < 17:
    raise InputError(f"GoogLeNet needs images of at least 17 x 17, got {image_shape}")
  if num_classes < 1 or width <= 0 or not 0.0 <= dropout < 1.0:
    raise InputError(f"bad GoogLeNet config: num_classes={num_classes} width={width} "
                     f"dropout={dropout}")
  image = keras.Input(tuple(image_shape), name="image")
  x = _conv(image, max(1, round(64 * width)), 7, "conv1_7x7_s2", strides=2)
  # pool1_3x3_s2 removed (paper 000).
  x = LocalResponseNorm(name="pool1_norm1")(x)
  x = _conv(x, max(1, round(64 * width)), 1, "conv2_3x3_reduce")
  x = _conv(x, max(1, round(192 * width)), 3, "conv2_3x3")
  x = LocalResponseNorm(name="conv2_norm2")(x)
  # pool2_3x3_s2 removed (paper 000).
  x = _inception(x, "inception_3a", width)
  x = _inception(x, "inception_3b", width)
  x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool3_3x3_s2")(x)
  outputs = {}
  for name in ("inception_4a", "inception_4b", "inception_4c", "inception_4d", "inception_4e"):
    x = _inception(x, name, width)
    if aux_heads and name == "inception_4a":
      outputs["aux1"] = _aux_head(x, "loss1", num_classes, width, dropout)
    if aux_heads and name == "inception_4d":
      outputs["aux2"] = _aux_head(x, "loss2", num_classes, width, dropout)
  x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool4_3x3_s2")(x)
  x = _inception(x, "inception_5a", width)
  x = _inception(x, "inception_5b", width)
  x = layers.GlobalAveragePooling2D(name="pool5_7x7_s1")(x)
  x = layers.Dropout(dropout, name="pool5_drop_7x7_s1")(x)
  outputs = {"logits": layers.Dense(num_classes, name="loss3_classifier")(x), **outputs}
  return keras.Model(image, outputs, name="googlenet")


def endpoints(model, names=("inception_3b", "inception_4b")):
  """image -> {name: activation for each name, "logits": logits}, sharing `model`'s weights.

  The returned keras.Model holds the same layers (no copies), so call it with
  training=False inside a tf.function (dropout off) for the semantic loss.
  """
  known = {layer.name for layer in model.layers}
  missing = [n for n in names if n not in known]
  if missing or "loss3_classifier" not in known:
    raise InputError(f"model {model.name} has no layer(s) {missing or ['loss3_classifier']}; "
                     f"endpoints are {', '.join(MODULES)}")
  outputs = {n: model.get_layer(n).output for n in names}
  outputs["logits"] = model.get_layer("loss3_classifier").output
  image = model.inputs[0] if len(model.inputs) == 1 else model.inputs
  return keras.Model(image, outputs, name=f"{model.name}_endpoints")


def _unpack(name, entry):
  """(weights, biases) from {"weights", "biases"}, {0, 1} or a [w, b] list."""
  if isinstance(entry, dict):
    for wk, bk in (("weights", "biases"), (0, 1), ("0", "1")):
      if wk in entry and bk in entry:
        return np.asarray(entry[wk], np.float32), np.asarray(entry[bk], np.float32)
  elif isinstance(entry, (list, tuple)) and len(entry) == 2:
    return np.asarray(entry[0], np.float32), np.asarray(entry[1], np.float32)
  raise InputError(f"layer {name} in the .npy is not a {{'weights', 'biases'}} dict")


def _fold_caffe_input(weights, biases, channels):
  """Makes conv1 take [-1, 1] RGB (or grey) instead of Caffe's BGR 0..255 minus mean.

  caffe_input[c] = 127.5 * x[c] + (127.5 - mean[c]) with the channel order
  reversed, so conv(caffe_input) = conv'(x) with W' = 127.5 W_rgb and
  b' = b + sum W_rgb (127.5 - mean_rgb); a grey input feeds all three
  channels, so its kernel is the sum over them. Exact except at zero padding.
  """
  w_rgb = weights[:, :, ::-1, :]
  shift = 127.5 - np.asarray(CAFFE_MEAN_BGR[::-1], np.float32)
  b = biases + np.einsum("hwco,c->o", w_rgb, shift)
  w = 127.5 * w_rgb
  if channels == 1:
    w = w.sum(axis=2, keepdims=True)
  return w.astype(np.float32), b.astype(np.float32)


def load_caffe_npy(model, path, freeze=("inception_4a", "inception_4b", "inception_4c"),
                   fold_preprocessing=True):
  """Loads Caffe-converted ImageNet weights (googlenet.npy) into a width-1.0 model.

  Args:
    model: from `build(width=1.0)` (any num_classes, image size, channels 1 or 3).
    path: np.load(path, allow_pickle=True, encoding="latin1").item() must be a
      dict {caffe layer name: {"weights": HWIO / [in, out], "biases": [out]}}
      (keys 0 / 1 or a [w, b] pair are accepted too).
    freeze: modules whose layers get trainable=False (freeze BEFORE building
      the optimizer so its variable list matches).
    fold_preprocessing: fold Caffe's BGR / 0..255 / mean input convention into
      conv1 so the model keeps taking [-1, 1] RGB or grey images.
  Returns:
    dict(loaded=[layer names], skipped=[auxiliary/classifier layers whose
    shapes differ, e.g. 512-unit aux fc vs Caffe's 1024, or another
    num_classes], frozen=[layer names]).
  Raises:
    InputError: missing file, not a Caffe-layout dict, width != 1.0, a trunk
      layer missing or of the wrong shape, an unknown module in `freeze`.
  """
  if not os.path.isfile(path):
    raise InputError(f"no such weights file: {path}")
  try:
    params = np.load(path, allow_pickle=True, encoding="latin1").item()
  except (ValueError, OSError, EOFError) as e:
    raise InputError(f"{path} is not a pickled Caffe weights dict (.npy): {e}") from None
  if not isinstance(params, dict):
    raise InputError(f"{path} holds a {type(params).__name__}, expected a dict of layers")
  known = {layer.name for layer in model.layers}
  bad = [m for m in freeze if m not in known]
  if bad:
    raise InputError(f"cannot freeze unknown module(s) {bad}; modules are {', '.join(MODULES)}")
  if "conv1_7x7_s2" not in known or model.get_layer("conv1_7x7_s2").filters != 64:
    raise InputError("only a width=1.0 GoogLeNet can load the Caffe weights")
  loaded, skipped, assign = [], [], []
  for layer in model.layers:
    if not isinstance(layer, (layers.Conv2D, layers.Dense)):
      continue
    head = layer.name.startswith("loss")
    kernel, bias = (tuple(v.shape) for v in layer.weights)
    if layer.name not in params:
      if head:
        skipped.append(layer.name)
        continue
      raise InputError(f"{path} has no layer {layer.name}")
    w, b = _unpack(layer.name, params[layer.name])
    if layer.name == "conv1_7x7_s2" and fold_preprocessing and w.ndim == 4 and w.shape[2] == 3:
      w, b = _fold_caffe_input(w, b, kernel[2])
    if w.shape != kernel or b.shape != bias:
      if head:
        skipped.append(layer.name)
        continue
      raise InputError(f"layer {layer.name}: {path} has shapes {w.shape}/{b.shape}, "
                       f"model has {kernel}/{bias}")
    assign.append((layer, w, b))
  for layer, w, b in assign:  # only once everything matched: no half-loaded model.
    layer.set_weights([w, b])
    loaded.append(layer.name)
  frozen = []
  for layer in model.layers:
    if any(layer.name == m or layer.name.startswith(m + "_") for m in freeze):
      layer.trainable = False
      frozen.append(layer.name)
  return dict(loaded=loaded, skipped=skipped, frozen=frozen)



@config.kind("network", "googlenet")
@dataclasses.dataclass(frozen=True)
class GoogLeNetConfig(NetworkConfig):
  """The modified GoogLeNet of paper 000 (first two max-pools removed, two auxiliary heads)."""
  width: float = config.field(1.0, help="multiplier of every channel count (1 = the paper's "
                              "network)", low=0.0, low_open=True, high=16.0)
  dropout: float = config.field(0.3, help="drop rate of the fully connected layers (paper: "
                                "keep 0.7)", low=0.0, high=0.99)
  aux_heads: bool = config.field(True, help="the two auxiliary classifiers (after 4a and 4d)")
  caffe_npy: str | None = config.field(
      None, help="Caffe-converted ImageNet weights (googlenet.npy) to start training from")
  freeze: tuple[str, ...] = config.field(
      ("inception_4a", "inception_4b", "inception_4c"),
      help="modules kept frozen when caffe_npy is loaded")

  def build(self, image_shape, num_classes):
    return {"model": build(image_shape, num_classes, width=self.width, dropout=self.dropout,
                           aux_heads=self.aux_heads)}

  def initialise(self, networks, log=print):
    if self.caffe_npy:
      loaded = load_caffe_npy(networks["model"], os.path.expanduser(self.caffe_npy),
                              freeze=self.freeze)
      log(f"initialised {len(loaded['loaded'])} layers from {self.caffe_npy}")
