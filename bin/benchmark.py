r"""Inpainting speed, side by side with references: python -m bin.benchmark

  classifier  ClassifierInpainter (LeNet 28x28x1, paper 003): one batched tf.while_loop vs a
              per-image eager Python loop doing the same arithmetic;
  semantic    SemanticInpainter (DCGAN + GoogLeNet endpoints, preset full, paper 000), batched
              vs per-image eager loop;
  matmul      a plain float32 tf.matmul, the GFLOP/s this machine reaches on dense math.

Networks are randomly initialised (speed does not depend on the weights) and small enough for
the whole run to take a minute or two on a laptop CPU. --num_images / --iterations change the
batched sizes; --output_dir also writes the table as benchmark.md.
"""

from bin import cli  # first: quiets TensorFlow before it is imported
from bin import flags as cli_flags  # defines every flag

import os

from absl import flags

from tfinpaint.errors import InputError

FLAGS = flags.FLAGS
for _name in cli_flags.KEY_FLAGS["benchmark"]:  # shown by --help
  flags.declare_key_flag(_name)
KINDS = ("classifier", "semantic", "matmul")


def _classifier_module(iterations):
  import keras  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import classifier_guided  # pylint: disable=g-import-not-at-top
  from tfinpaint.models import lenet  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(FLAGS.seed)
  net = lenet.build((28, 28, 1), 10)
  # epsilon=0: every image runs every iteration, so both paths do the same amount of work.
  return classifier_guided.ClassifierInpainter(net, num_classes=10, image_shape=(28, 28, 1),
                                               epsilon=0.0, max_iterations=iterations)


def _semantic_module(iterations):
  import keras  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import semantic  # pylint: disable=g-import-not-at-top
  from tfinpaint.models import dcgan, googlenet  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(FLAGS.seed)
  size, channels, z_dim = 32, 3, 100
  gen = dcgan.build_generator(size, channels, z_dim=z_dim, width=32)
  disc = dcgan.build_discriminator(size, channels, width=32)
  net = googlenet.build((size, size, channels), 10, width=0.25, aux_heads=False)
  return semantic.SemanticInpainter(gen, disc, googlenet.endpoints(net), z_dim=z_dim,
                                    image_shape=(size, size, channels), preset="full",
                                    num_starts=2, max_iterations=iterations, blend=False,
                                    epsilon=0.0)


def main(argv):
  del argv
  from tfinpaint import benchmark, images  # pylint: disable=g-import-not-at-top
  unknown = [b for b in FLAGS.benchmarks if b not in KINDS]
  if unknown or not FLAGS.benchmarks:
    raise InputError(f"--benchmarks takes {', '.join(KINDS)}; got {','.join(FLAGS.benchmarks)}")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
  print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), intra-op threads {threads}, "
        f"devices: {', '.join(d.name for d in tf.config.list_logical_devices())}", flush=True)
  rows, notes = [], []
  if "classifier" in FLAGS.benchmarks:
    its = FLAGS.iterations or 100
    print("classifier-guided inpainting ...", flush=True)
    r, diff = benchmark.bench_classifier(_classifier_module(its), images=FLAGS.num_images or 32,
                                         iterations=its, seed=FLAGS.seed)
    rows += r
    notes.append(f"classifier: batched and per-image results differ by at most {diff:.2e}")
  if "semantic" in FLAGS.benchmarks:
    its = FLAGS.iterations or 10
    print("semantic inpainting ...", flush=True)
    r, diff = benchmark.bench_semantic(_semantic_module(its), images=FLAGS.num_images or 8,
                                       iterations=its, seed=FLAGS.seed)
    rows += r
    notes.append(f"semantic: batched and per-image results differ by at most {diff:.2e} after "
                 "2 iterations (optimisation only, no Poisson blending)")
  if "matmul" in FLAGS.benchmarks:
    n = 1024
    gflops, seconds = benchmark.matmul_gflops(n)
    rows.append(benchmark.Row(f"tf.matmul {n}x{n} float32", "reference for GFLOP/s", 0, 0,
                              seconds, gflops))
  table = benchmark.markdown(rows)
  text = "\n".join([table, ""] + [f"- {n}" for n in notes]) + "\n"
  print()
  print(text, end="")
  if FLAGS.output_dir:
    with cli.staged_output(FLAGS.output_dir) as stage:
      images.write_text(os.path.join(stage, "benchmark.md"), text)
    print(f"wrote benchmark.md to {FLAGS.output_dir}")


if __name__ == "__main__":
  cli.run(main)
