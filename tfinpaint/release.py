"""Trained networks -> a servable inpainter in exported/<name>/: bin.export's library.

The experiment's `request` section names the method (its type is the method's Config) and
holds the default of every option; the networks come from

  * the training workdirs (bin.train's checkpoints, rebuilt from each workdir's config.json
    through training.runner.restore): the experiment's own workdir is the method's first role
    (`Inpainter.ROLES`), `export.networks` names the workdirs of the others, and the method's
    `assemble` makes the inpainter of them;
  * or a `networks/` folder (`export.from_networks`): the same trained weights, re-exported with
    the experiment's request defaults (e.g. after a change of the export format).

An experiment without a request section whose network is the judge writes the judge to
<export_dir>/judge/ instead. Nothing shipped is replaced without `export.overwrite`, and a new
version goes to the next free version folder unless `export.version` names one.
"""

import dataclasses
import datetime
import json
import os

from tfinpaint import config as config_lib
from tfinpaint import export as export_lib
from tfinpaint import fileio
from tfinpaint import judge as judge_lib
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base
from tfinpaint.training import runner


def _trained(experiment, cls, log):
  """{role: Trained} of the method's roles: this experiment's workdir, then export.networks."""
  e = experiment
  if e.train is None or not e.train.workdir:
    raise InputError("the experiment names no training workdir (--config.train.workdir) and "
                     "no --config.export.from_networks")
  unknown = sorted(set(e.export.networks) - set(cls.ROLES[1:]))
  if unknown:
    raise InputError(f"--config.export.networks: the {cls.KIND} method has no role "
                     f"{', '.join(unknown)} (its roles: {', '.join(cls.ROLES)})")
  workdirs = dict(e.export.networks, **{cls.ROLES[0]: e.train.workdir})
  trained = {}
  for role in cls.ROLES:
    if role in workdirs:
      trained[role] = runner.restore(workdirs[role], log=log)
      facts = trained[role].experiment.train.score(trained[role].networks,
                                                   trained[role].experiment.data)
      for key, value in facts.items():
        log(f"{role} ({workdirs[role]}): {key} {value:.4f}")
      trained[role].facts = facts
  return trained


def _from_networks(experiment, cls):
  """The inpainter of a networks/ folder with the experiment's request defaults."""
  saved = export_lib.load_networks(experiment.export.from_networks)
  if type(saved) is not cls:  # pylint: disable=unidiomatic-typecheck
    raise InputError(f"{experiment.export.from_networks} holds a {saved.KIND} model; the "
                     f"experiment exports {cls.KIND}")
  derived = {f.name: getattr(saved.config, f.name) for f in dataclasses.fields(cls.Config)
             if f.metadata.get("derived")}
  return cls(saved.networks, dataclasses.replace(experiment.request, **derived), saved.arrays)


def _export_judge(experiment, log):
  e = experiment
  if not isinstance(e.network, judge_lib.JudgeConfig):
    raise InputError(f"experiment {e.name} exports nothing: it has no request section (its "
                     f"{e.network.KIND if e.network else 'no'} network is used by another "
                     "experiment's export)")
  trained = runner.restore(e.train.workdir, log=log)
  facts = e.train.score(trained.networks, e.data)
  log(f"judge test accuracy {facts.get('test_accuracy', float('nan')):.4f}")
  path = os.path.join(e.export.export_dir, "judge")
  if os.path.exists(path) and not e.export.overwrite:
    raise InputError(f"{path} exists; pass --config.export.overwrite=true to replace the judge")
  info = dict(facts, steps=trained.step, dataset=e.data.dataset, seed=e.train.seed,
              class_names=list(trained.class_names))
  return {"judge": judge_lib.Judge(trained.networks["model"], info).save(path)}


def model_card(inpainter, experiment, trained, version_dir):
  """A generated MODEL_CARD.md for a new export folder (the user edits it afterwards)."""
  e = experiment
  lines = [f"# {os.path.basename(os.path.normpath(e.export.export_dir))}: {inpainter.KIND} "
           "inpainting", "", f"- experiment: `{e.name}`"]
  for role, t in trained.items():
    facts = "".join(f", {k} {v:.4f}" for k, v in getattr(t, "facts", {}).items())
    lines.append(f"- {role}: `{t.experiment.network.KIND}` trained on "
                 f"`{t.experiment.data.dataset}`, {t.step} steps{facts}")
  lines += [f"- exported: {datetime.date.today().isoformat()} to `{version_dir}`",
            "- config: `" + json.dumps(config_lib.to_json(inpainter.config), sort_keys=True) +
            "`", "", "## Signatures", ""]
  lines += [f"- `{name}`: {sig.doc}" for name, sig in inpainter.signatures().items()]
  lines += ["", "Fill in: data, command lines, measured results (bin.evaluate), limitations."]
  return "\n".join(lines) + "\n"


def _previous_facts(networks_path):
  """{"samples", "data"} of the newest export beside a networks/ folder (empty when none)."""
  path = os.path.abspath(os.path.expanduser(networks_path)).rstrip("/")
  if os.path.basename(path) == export_lib.NETWORKS_DIR:
    path = os.path.dirname(path)
  if not export_lib.versions(path):
    return {}
  meta = export_lib.read_metadata(export_lib.version_dir(path))
  return {k: meta[k] for k in ("samples", "data") if k in meta}


def export_model(experiment, log=print):
  """The whole export of an experiment; returns {what: path} of what was written."""
  e, x = experiment, experiment.export
  if not x.export_dir:
    raise InputError("the experiment names no export folder: set --config.export.export_dir")
  fileio.check_folder_path(x.export_dir, "--config.export.export_dir")
  if e.request is None:
    return _export_judge(e, log)
  cls = base.for_config(e.request)
  written = {}
  if x.from_networks:
    inpainter, trained = _from_networks(e, cls), {}
    extra = _previous_facts(x.from_networks)
  else:
    trained = _trained(e, cls, log)
    inpainter = cls.assemble(trained, e.request, log=log)
    extra = {"data": trained[cls.ROLES[0]].experiment.data.dataset}
  base_dir = x.export_dir
  networks = os.path.join(base_dir, export_lib.NETWORKS_DIR)
  same = x.from_networks and os.path.abspath(x.from_networks).rstrip("/") in (
      os.path.abspath(base_dir), os.path.abspath(networks))
  if not same:
    written["networks"] = export_lib.save_networks(inpainter, base_dir, overwrite=x.overwrite)
  if x.samples:
    extra["samples"] = x.samples
  version = export_lib.export(inpainter, base_dir, x.version, overwrite=x.overwrite,
                              extra=extra)
  written["version"] = version
  card = os.path.join(base_dir, "MODEL_CARD.md")
  if not os.path.exists(card):
    fileio.write_text(card, model_card(inpainter, e, trained, version))
    written["card"] = card
  return written
