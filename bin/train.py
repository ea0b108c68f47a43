r"""Trains an experiment's network: python -m bin.train --flagfile=configs/<experiment>.flags

The experiment (configs/<experiment>.py) names the data, the network (LeNet, GoogLeNet, DCGAN,
the judge MLP or a method's own), its trainer and the workdir; --config.<section>.<field>
overrides one setting (--help lists them). The workdir holds checkpoints, TensorBoard summaries
and config.json (the resolved experiment, which bin.export reads the architecture from); a run
restarted with the same workdir resumes exactly where its last checkpoint left it.

  python -m bin.train --flagfile=configs/digits_lenet.flags
  python -m bin.train --config=configs/digits_lenet.py --config.train.workdir=/tmp/w
"""

from bin import cli  # first: quiets TensorFlow before it is imported


def main(args):
  from tfinpaint.training import runner  # pylint: disable=g-import-not-at-top
  metrics = runner.train(args.config)
  shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in metrics.items())
  workdir = args.config.train.workdir
  print(f"done: {shown}")
  print(f"checkpoints in {workdir}/checkpoints (tensorboard --logdir={workdir}/summaries)")


if __name__ == "__main__":
  cli.run(main, "train")
