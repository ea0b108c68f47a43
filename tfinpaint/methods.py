"""Every inpainting method by name: the classical baselines and the methods of exported models.

A learned method is a signature of an exported SavedModel plus fixed option values, as the
inpainter's kind declares them (`Inpainter.METHODS`, recorded in the export's metadata): for
example `tv_only` is the classifier-guided `serving_default` with `content_weight` = 0. So this
module never chooses anything by kind: it asks the loaded models (tfinpaint.served) what they
provide. A method is called as

    method(images [N,H,W,C] in [-1, 1], masks [N,H,W,1] 1 = known, labels int [N] or None,
           options {option: value} or None, threshold float or None)
      -> {output: numpy array}, with "inpainted" in [-1, 1] (and "mask" when the signature
         computes its own, e.g. illumination)
"""

import dataclasses

import numpy as np

from tfinpaint import images as images_lib
from tfinpaint import served
from tfinpaint.errors import InputError

BASELINES = ("telea", "navier_stokes", "patchmatch")


@dataclasses.dataclass
class Method:
  """One method: a baseline (model is None) or a model's signature with fixed options."""
  name: str
  model: object = None  # tfinpaint.served.Model
  signature: str | None = None
  fixed: dict = dataclasses.field(default_factory=dict)
  batch_size: int = served.BATCH_SIZE

  @property
  def learned(self):
    return self.model is not None

  @property
  def inputs(self):
    """The per-request inputs the method takes (image, mask, label, threshold)."""
    if not self.learned:
      return ("image", "mask")
    return self.model.signatures[self.signature].required

  @property
  def options(self):
    """{option: default} the caller may set (fixed ones excluded)."""
    if not self.learned:
      return {}
    return {k: v for k, v in self.model.options(self.signature).items() if k not in self.fixed}

  def __call__(self, images, masks=None, labels=None, options=None, threshold=None):
    images = np.asarray(images, np.float32)
    if not self.learned:
      if options:
        raise InputError(f"{self.name} takes no option ({', '.join(sorted(options))})")
      from tfinpaint.inpainting import baselines  # pylint: disable=g-import-not-at-top
      return {"inpainted": baselines.inpaint(self.name, images, masks)}
    clash = sorted(set(options or {}) & set(self.fixed))
    if clash:
      raise InputError(f"method {self.name} fixes {', '.join(clash)}; use method "
                       f"{self.signature if self.signature != 'serving_default' else 'classifier'}"
                       " to set it")
    n = len(images)
    available = {"image": images_lib.to_unit(images), "mask": masks,
                 "label": None if labels is None else np.asarray(labels, np.int32).reshape(n),
                 "threshold": None if threshold is None else np.float32(threshold)}
    inputs = {}
    for name in self.inputs:
      if available.get(name) is None:
        raise InputError(f"method {self.name} needs {name} for every image")
      inputs[name] = available[name]
    out = self.model.run_batches(self.signature, inputs, dict(options or {}, **self.fixed),
                                 self.batch_size)
    image_outputs = {"inpainted", "generated", "snapshots"}
    return {k: (images_lib.to_signed(v) if k in image_outputs else v) for k, v in out.items()}


def baseline(name):
  if name not in BASELINES:
    raise InputError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
  return Method(name)


def installed_baselines():
  """The baselines whose optional libraries are installed (probed on a tiny image)."""
  probe = np.zeros((1, 8, 8, 1), np.float32)
  mask = np.ones((1, 8, 8, 1), np.float32)
  mask[0, 3:5, 3:5] = 0.0
  found = []
  for name in BASELINES:
    try:
      baseline(name)(probe, mask)
      found.append(name)
    except InputError:
      pass
  return found


def of_models(models, batch_size=served.BATCH_SIZE):
  """{method name: Method} that the loaded models provide (the first model wins a name)."""
  out = {}
  for model in models:
    for name, (signature, fixed) in model.methods.items():
      if signature in model.signatures and name not in out:
        out[name] = Method(name, model, signature, dict(fixed), batch_size)
  return out


def get(name, models=(), batch_size=served.BATCH_SIZE):
  """The method called `name`: a model's method, else a baseline; InputError listing the rest."""
  provided = of_models(models, batch_size)
  if name in provided:
    return provided[name]
  if name in BASELINES:
    return baseline(name)
  known = sorted(provided) + list(BASELINES)
  where = ", ".join(m.name for m in models) or "no model"
  raise InputError(f"unknown method {name!r} for {where}; available: {', '.join(known)}")
