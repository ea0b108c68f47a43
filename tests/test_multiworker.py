"""Real multi-worker training: two bin.train processes on loopback under MultiWorkerMirroredStrategy.

Each worker is its own process (python -m bin.train through tests/multiworker_worker.py) with
TF_CONFIG naming both workers on free localhost ports, one CPU replica each, as on two machines
with a shared workdir. The chief's final checkpoint is compared with a single-process run of
the same global batch and seed on 2 replicas (the mirrored strategy on CPU:0,CPU:1, a third
process started at the same time), which sees the same global batches split the same way. Only
the chief writes into the workdir: worker 1 saves its checkpoints to a scratch folder inside it
and removes it. Then a job is killed mid-run (kill -9 on worker 1 after the first checkpoint,
then the chief, which would otherwise wait for it forever) and restarted on the same workdir: it
resumes from the last checkpoint and ends where the uninterrupted job did.

Tiny networks (LeNet width 0.25, DCGAN with 8 base filters) on 16x16 synthetic images keep the
whole module under a minute on a 2-core machine; every process is bounded by a timeout.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tfinpaint import experiment
from tfinpaint.training import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300  # seconds for one job (~20 s on an idle 2-core machine; far more when loaded)
STEPS, EVERY, PAUSE = 8, 3, 5  # checkpoints at 3, 6, 8; the killed job dies at 5
SIZE, CLASSES = 16, 10  # synthetic data
EXPERIMENTS = os.path.join(REPO, "tests", "experiments.py")
MODELS = {  # the trimmed experiments of tests/experiments.py (synthetic data), with overrides
    "lenet": [f"--config={EXPERIMENTS}:lenet", "--config.train.patch_repeats=2",
              "--config.train.learning_rate=3e-3"],
    "dcgan": [f"--config={EXPERIMENTS}:dcgan", "--config.train.sample_every=4"],
}
COMMON = [f"--config.data.image_size={SIZE}", "--config.train.batch_size=8",
          f"--config.train.num_steps={STEPS}", f"--config.train.checkpoint_every={EVERY}",
          "--config.train.log_every=2", "--config.train.seed=3"]
RTOL, ATOL = 1e-4, 1e-5


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _start(args, log_path, tf_config=None):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  if tf_config is not None:
    env["TF_CONFIG"] = json.dumps(tf_config)
  log = open(log_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
  proc = subprocess.Popen([sys.executable, "-m", "tests.multiworker_worker", *args], cwd=REPO,
                          env=env, stdout=log, stderr=subprocess.STDOUT)
  proc.log_path = log_path
  log.close()
  return proc


def _workers(model, workdir, logs, extra=()):
  ports = _free_ports(2)
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  args = [*MODELS[model], *COMMON, f"--config.train.workdir={workdir}",
          "--config.runtime.strategy=multi_worker", *extra]
  return [_start(args, f"{logs}_worker{i}.log",
                 {"cluster": cluster, "task": {"type": "worker", "index": i}})
          for i in range(2)]


def _log(proc):
  with open(proc.log_path, encoding="utf-8") as f:
    return f.read()


def _kill(procs):
  for p in procs:
    if p.poll() is None:
      p.kill()
  for p in procs:
    p.wait(timeout=30)


def _wait(procs, timeout=TIMEOUT):
  deadline = time.monotonic() + timeout
  try:
    for p in procs:
      p.wait(timeout=max(1.0, deadline - time.monotonic()))
  except subprocess.TimeoutExpired:
    _kill(procs)
    pytest.fail("a job timed out:\n" + "\n----\n".join(_log(p)[-2000:] for p in procs))
  for p in procs:
    assert p.returncode == 0, _log(p)[-3000:]


def _final(model, workdir):
  """(step, weights) of the newest checkpoint of workdir, restored into freshly built networks."""
  network = experiment.load(f"{EXPERIMENTS}:{model}").network
  nets = network.build((SIZE, SIZE, 1), CLASSES)
  step = checkpoints.restore(str(workdir), nets)
  return step, [w for name in sorted(nets) for w in nets[name].get_weights()]


def _max_diff(a, b):
  return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


_RUNS = {}


def _uninterrupted(model, tmp_path_factory):
  """Runs (once per model) the 2-worker job and, in parallel, the 1-process 2-replica reference."""
  if model not in _RUNS:
    root = tmp_path_factory.mktemp(f"mw_{model}")
    reference = _start([*MODELS[model], *COMMON, f"--config.train.workdir={root / 'reference'}",
                        "--config.runtime.strategy=mirrored",
                        "--config.runtime.devices=CPU:0,CPU:1"], root / "reference.log")
    started = time.perf_counter()
    workers = _workers(model, root / "job", root / "job")
    _wait(workers + [reference])
    _RUNS[model] = dict(root=root, job=root / "job", reference=root / "reference",
                        workers=workers, seconds=time.perf_counter() - started)
  return _RUNS[model]


def _assert_only_the_chief_wrote(workdir, *chiefs):
  names = set(os.listdir(workdir))
  assert names <= {"config.json", "checkpoints", "summaries", "samples"}, names
  ckpts = sorted(os.listdir(workdir / "checkpoints"))  # no .worker_* scratch folder left
  assert ckpts == ["checkpoint"] + [f"ckpt-{n}.{ext}" for n in (3, 6, 8)
                                    for ext in ("data-00000-of-00001", "index")], ckpts
  events = glob.glob(str(workdir / "summaries" / "**" / "events.out.tfevents.*"), recursive=True)
  writers = {os.path.basename(e).split(".")[-3] for e in events}  # ...<host>.<pid>.<n>.v2
  assert events and writers <= {str(c.pid) for c in chiefs}, (writers, [c.pid for c in chiefs])


@pytest.mark.parametrize("model", sorted(MODELS))
def test_two_workers_match_one_process_and_only_the_chief_writes(model, tmp_path_factory):
  run = _uninterrupted(model, tmp_path_factory)
  chief, other = run["workers"]
  for proc in run["workers"]:
    assert "with 2 replica(s)" in _log(proc) and f"step {STEPS}/{STEPS}" in _log(proc)
  step, job = _final(model, run["job"])
  ref_step, ref = _final(model, run["reference"])
  assert step == ref_step == STEPS
  diff = _max_diff(job, ref)
  print(f"{model}: 2 workers vs 1 process x 2 replicas: max |diff| {diff:.3g} over "
        f"{sum(w.size for w in job)} weights; job {run['seconds']:.1f} s")
  for a, b in zip(job, ref):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
  _, initial = _final(model, run["root"] / "nothing")  # fresh weights: training moved them
  assert _max_diff(job, initial) > 1e-3
  _assert_only_the_chief_wrote(run["job"], chief)
  assert "samples" not in os.listdir(run["job"]) or model == "dcgan"
  if model == "dcgan":
    assert sorted(os.listdir(run["job"] / "samples")) == ["step_000004.png", "step_000008.png"]
  assert other.pid != chief.pid


@pytest.mark.parametrize("model", ["dcgan"])
def test_killed_worker_job_restarts_from_the_last_checkpoint(model, tmp_path_factory):
  run = _uninterrupted(model, tmp_path_factory)
  root = run["root"]
  workdir = root / "killed"
  marker = root / "paused"
  workers = _workers(model, workdir, root / "killed",
                     [f"--pause_at={PAUSE}", f"--pause_file={marker}"])
  deadline = time.monotonic() + TIMEOUT
  while not marker.exists():
    if time.monotonic() > deadline or any(p.poll() is not None for p in workers):
      _kill(workers)
      pytest.fail("the job did not reach the pause:\n" + "\n----\n".join(_log(p)[-2000:]
                                                                       for p in workers))
    time.sleep(0.1)
  os.kill(workers[1].pid, signal.SIGKILL)  # worker 1 dies after ckpt-3, at step 5
  workers[1].wait(timeout=30)
  os.kill(workers[0].pid, signal.SIGKILL)  # the chief waits for it forever: the job restarts
  workers[0].wait(timeout=30)
  assert sorted(os.path.basename(p) for p in glob.glob(str(workdir / "checkpoints" / "*.index"))
                ) == ["ckpt-3.index"]
  assert os.path.isdir(workdir / "checkpoints" / ".worker_worker_1")  # left by the kill

  restarted = _workers(model, workdir, root / "restarted")
  _wait(restarted)
  for proc in restarted:
    log = _log(proc)
    assert f"restored ckpt-{EVERY} (step {EVERY})" in log and f"step {STEPS}/{STEPS}" in log
  step, resumed = _final(model, workdir)
  _, uninterrupted = _final(model, run["job"])
  assert step == STEPS
  print(f"{model}: killed and restarted job vs uninterrupted job: max |diff| "
        f"{_max_diff(resumed, uninterrupted):.3g}")
  for a, b in zip(resumed, uninterrupted):
    np.testing.assert_array_equal(a, b)
  _assert_only_the_chief_wrote(workdir, workers[0], restarted[0])
