"""bin.train as one worker process of tests/test_multiworker.py (not a test module itself).

  python -m tests.multiworker_worker [--pause_at=STEP --pause_file=PATH] <bin.train flags>

Runs bin.train's main exactly as `python -m bin.train` does. With --pause_at, the training loop
gets one more hook: after step STEP it touches PATH and sleeps, so that the test can kill the
job mid-run at a known step (after a checkpoint, before the next one) with kill -9. The hook
runs every step, which only splits the steps into one tf.function call each: every step is
still one update on the batch of that step.
"""

import sys
import time


def _pop(argv, name):
  for arg in list(argv):
    if arg.startswith(f"--{name}="):
      argv.remove(arg)
      return arg.split("=", 1)[1]
  return None


def _patient_heartbeats(seconds=120):
  """Configures the coordination service as MultiWorkerMirroredStrategy would, with a longer
  heartbeat timeout than its 10 s default: on a 2-core machine running other jobs, a starved
  worker misses heartbeats and the job aborts ("heartbeat timeout") although nothing crashed.
  (The strategy leaves a configured service alone.) The killed-worker test kills every worker
  itself, so it never waits for this timeout.
  """
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  config = json.loads(os.environ.get("TF_CONFIG") or "{}")
  if not config.get("cluster"):
    return
  from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(config["cluster"][job]))
          for job in ("chief", "worker") if job in config["cluster"]]
  leader = "chief" if "chief" in config["cluster"] else "worker"
  context.context().configure_coordination_service(
      service_type="standalone", service_leader=f"/job:{leader}/replica:0/task:0",
      coordinated_jobs=jobs, heartbeat_timeout_in_ms=seconds * 1000)


def main():
  argv = sys.argv[1:]
  pause_at, pause_file = _pop(argv, "pause_at"), _pop(argv, "pause_file")
  sys.argv = [sys.argv[0]] + argv
  from bin import cli  # pylint: disable=g-import-not-at-top  (first: quiets TensorFlow)
  from bin import train  # pylint: disable=g-import-not-at-top
  _patient_heartbeats()
  if pause_at:
    from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
    real_run = loop.run

    def paused_run(**kwargs):
      def pause(step, metrics):
        del metrics
        if step == int(pause_at):
          with open(pause_file, "w", encoding="utf-8") as f:
            f.write(str(step))
          print(f"paused at step {step}", flush=True)
          while True:
            time.sleep(60)
      return real_run(**dict(kwargs, hooks=list(kwargs.get("hooks", ())) + [(1, pause)]))

    loop.run = paused_run
  cli.run(train.main, "train")


if __name__ == "__main__":
  main()
