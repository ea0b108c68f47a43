"""Helpers shared by several test modules: tiny networks, tiny exports, TF Serving's loaders.

Why one place: the inpainters, their exports, the CLIs, the methods and the benchmark are all
tested against the same tiny random networks, and every export test must load its SavedModel
the way TF Serving does (the C API, tfinpaint.serving.capi) and, as a second check, with
`saved_model_cli`. Not a test module itself (no test_ prefix), so pytest collects nothing here.
"""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np

from tfinpaint.serving import tfprotos

SIZE, CHANNELS, K = 16, 1, 3
# The 2 logical CPUs of tests/conftest.py, named explicitly: tests of 2 replicas then mean the
# same thing on a GPU host (where --strategy=mirrored alone would take the GPUs).
CPUS = ("CPU:0", "CPU:1")


def tiny_classifier(num_classes, seed=0, height=16, width=16, channels=1):
  """Random classifier [N, H, W, C] -> logits [N, K]: one strided conv and a dense layer."""
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((height, width, channels))
  x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh")(inputs)
  x = keras.layers.Flatten()(x)
  return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def tiny_classifier_inpainter(**config):
  """The classifier-guided method's own tiny example (16x16x1, 3 classes)."""
  from tfinpaint.inpainting import classifier_guided as cg  # pylint: disable=g-import-not-at-top
  return cg.ClassifierInpainter.example("tiny", **config)


def tiny_semantic_inpainter(**config):
  """The semantic method's own tiny example (16x16x1, z 8, a small endpoints classifier)."""
  from tfinpaint.inpainting import semantic  # pylint: disable=g-import-not-at-top
  return semantic.SemanticInpainter.example("tiny", **config)


def request(n=2, seed=0, size=SIZE, channels=CHANNELS):
  """n images in [0, 1] with a centre hole (mask 1 = known)."""
  rng = np.random.default_rng(seed)
  image = rng.uniform(0, 1, (n, size, size, channels)).astype(np.float32)
  mask = np.ones((n, size, size, 1), np.float32)
  mask[:, size // 4:size // 4 + size // 2, size // 4:size // 4 + size // 2] = 0.0
  return image, mask


def saved_model_cli_run(path, signature, inputs, work_dir, timeout=600):
  """Runs `saved_model_cli run` in a subprocess (a second C++ loader check).

  Args:
    path: the SavedModel (version) directory.
    signature: signature name, e.g. "serving_default".
    inputs: {input name: numpy array} (every input of the signature: the tool knows no
      defaults), saved as .npy files in work_dir.
    work_dir: a pathlib.Path for the input and output files.
  Returns:
    {output name: numpy array}. Fails the test with the loader's stderr on error.
  """
  for name, value in inputs.items():
    np.save(work_dir / f"{name}.npy", value)
  arg = ";".join(f"{name}={work_dir / name}.npy" for name in inputs)
  out_dir = work_dir / "out"
  cli = ([shutil.which("saved_model_cli")] if shutil.which("saved_model_cli")
         else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
  result = subprocess.run(
      cli + ["run", "--dir", str(path), "--tag_set", "serve", "--signature_def", signature,
             "--inputs", arg, "--outdir", str(out_dir)],
      capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
      timeout=timeout, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return {f[:-4]: np.load(out_dir / f) for f in os.listdir(out_dir)}


def saved_graph(path):
  """What the exported graph of <path>/saved_model.pb contains.

  Returns:
    dict(ops=set of op types in the graph and its functions, xla=names of nodes and
    functions marked _XlaMustCompile (jit_compile), signatures=set of signature names).
  """
  proto = tfprotos.saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  meta = proto.meta_graphs[0]
  graph = meta.graph_def
  nodes = list(graph.node) + [n for fn in graph.library.function for n in fn.node_def]
  xla = [n.name for n in nodes if n.attr["_XlaMustCompile"].b]
  xla += [fn.signature.name for fn in graph.library.function if fn.attr["_XlaMustCompile"].b]
  return dict(ops={n.op for n in nodes}, xla=xla, signatures=set(meta.signature_def))


FORBIDDEN_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc", "XlaLaunch"}
