r"""Speed, side by side with references in the same run: python -m bin.benchmark

  loops    each registered method's exported loop (random networks of the shipped models'
           sizes) next to its per-image eager loop over the same `step`, GFLOP/s from the layer
           shapes, where a step's time goes, the block-size trade-off;
  serving  every signature of the shipped exports (or --model_dir) loaded with TF Serving's
           loader (C API, warm-up records replayed): first request after load vs a warm one,
           throughput against batch size, one image at 1,000 iterations;
  matmul   the GFLOP/s this machine reaches on dense float32 math.
The loops and matmul run with oneDNN off and on, each in a fresh process. --paper_scale adds the
configs/cars_* experiments at their real size. Writes benchmark.md, benchmark.csv and
throughput_<model>.png to --output_dir.
"""

from bin import cli  # first: quiets TensorFlow before it is imported


def main(args):
  from tfinpaint import benchmark  # pylint: disable=g-import-not-at-top
  output_dir, written, text = benchmark.run(args.get(benchmark.Settings),
                                            log=lambda l: print(l, flush=True))
  print()
  print(text, end="")
  print(f"wrote {', '.join(written)} to {output_dir}")


if __name__ == "__main__":
  cli.run(main, "benchmark")
