"""Helpers shared by several test modules: a tiny classifier and the TF Serving loader checks.

Why one place: the classifier-guided inpainter, its export, the methods registry and the
benchmark are all tested against the same tiny random classifier, and both export tests
(classifier-guided and semantic) must load their SavedModel with `saved_model_cli`, the same
C++/TF1 loader as TF Serving, and inspect the exported graph for forbidden ops. Not a test
module itself (no test_ prefix), so pytest collects nothing here.
"""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
from tensorflow.core.protobuf import saved_model_pb2


def tiny_classifier(num_classes, seed=0, height=16, width=16):
  """Random classifier [N, H, W, 1] -> logits [N, K]: one strided conv and a dense layer."""
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((height, width, 1))
  x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh")(inputs)
  x = keras.layers.Flatten()(x)
  return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def saved_model_cli_run(path, signature, inputs, work_dir, timeout=600):
  """Runs `saved_model_cli run` in a subprocess, as TF Serving would load the model.

  Args:
    path: the SavedModel (version) directory.
    signature: signature name, e.g. "serving_default".
    inputs: {input name: numpy array}, saved as .npy files in work_dir.
    work_dir: a pathlib.Path for the input and output files.
    timeout: seconds before the subprocess is killed.
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
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  meta = proto.meta_graphs[0]
  graph = meta.graph_def
  nodes = list(graph.node) + [n for fn in graph.library.function for n in fn.node_def]
  xla = [n.name for n in nodes if n.attr["_XlaMustCompile"].b]
  xla += [fn.signature.name for fn in graph.library.function if fn.attr["_XlaMustCompile"].b]
  return dict(ops={n.op for n in nodes}, xla=xla, signatures=set(meta.signature_def))
