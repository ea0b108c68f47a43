"""What every main in bin/ shares: its flags, made from the typed configs; one-line errors.

Each command takes exactly the flags it uses, and they are derived from where the settings are
declared (tfinpaint.config fields), never written here:

  * `--config=<experiment.py>` (or `--flagfile=configs/<experiment>.flags`, which names one) and
    `--config.<section>.<field>=value` overrides of the experiment sections the command reads
    (tfinpaint.experiment: train reads data, network, train, runtime; export reads export and
    request; evaluate reads data, evaluate and export.export_dir; inpaint export.export_dir);
  * plain `--<field>` flags of the command's own settings (inpaint.Settings, client.Settings,
    benchmark.Settings);
  * for inpaint, evaluate and client, the request options of every registered method's option
    table (`--iterations`, `--step_size`, ...): sent with each request when set, else the
    exported model's default.

A flag the command does not use is refused with one line naming the command(s) that take it.
Every user mistake is one line "error: ..." on stderr and exit code 2 (no traceback, nothing
half-written); Ctrl-C and SIGTERM exit 130. --help lists the command's flags and exits 0.

Import this module FIRST in a main, before anything that imports TensorFlow: the environment
variables below are read once, when TensorFlow's C++ runtime loads. Set TF_CPP_MIN_LOG_LEVEL=0
to see TensorFlow's own logs.
"""

import os
import signal
import sys


def _exit_interrupted(signum, frame):
  """SIGTERM / Ctrl-C while a command is still starting (before `run`): nothing is written
  yet, so the process just ends with the documented code 130 instead of dying by the signal."""
  del signum, frame
  os.write(2, b"interrupted\n")
  os._exit(130)  # pylint: disable=protected-access


if getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", "").startswith("bin."):
  for _signal in (signal.SIGTERM, signal.SIGINT):  # only in a command, never in an importer
    signal.signal(_signal, _exit_interrupted)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING/ERROR lines off
# oneDNN off by default: with it, TensorFlow's CPU kernels are not bitwise reproducible from one
# process to the next (measured: 1 run in 4-6 of the same request differs in the last bit), and
# hundreds of optimisation steps turn that into visibly different fills. Reproducible results
# first; TF_ENABLE_ONEDNN_OPTS=1 in the environment trades them for speed (bin.benchmark
# measures both).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# pylint: disable=wrong-import-position
import dataclasses
import typing
import warnings

from absl import flags
from absl import logging

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_HELP = ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


@dataclasses.dataclass(frozen=True)
class Command:
  """What one command reads: experiment sections (dotted paths), settings classes, options."""
  name: str
  sections: tuple = ()  # experiment paths whose overrides the command takes
  needs_experiment: bool = False
  settings: tuple = ()  # (settings class, fields left out)
  options: bool = False  # the request options of the registered methods


def _commands():
  """The commands and what they read (imports the settings classes: TensorFlow loads here)."""
  from tfinpaint import benchmark, client, inpaint  # pylint: disable=g-import-not-at-top
  return {
      "train": Command("train", ("data", "network", "train", "runtime"), needs_experiment=True),
      "export": Command("export", ("export", "request", "train.workdir"), needs_experiment=True),
      "evaluate": Command("evaluate", ("data", "evaluate", "export.export_dir"), options=True),
      "inpaint": Command("inpaint", ("export.export_dir",), settings=((inpaint.Settings, ()),),
                         options=True),
      "client": Command("client", settings=((client.Settings, ()),
                                            (inpaint.Settings, ("model_dir", "output_dir"))),
                        options=True),
      "benchmark": Command("benchmark", settings=((benchmark.Settings, ()),)),
  }


@dataclasses.dataclass
class Args:
  """What a main gets: the experiment (with overrides), its settings, the request options."""
  command: str
  config: object  # tfinpaint.experiment.Experiment
  settings: dict  # settings class -> instance
  options: dict  # request option -> value (only those set)
  experiment_path: str | None = None

  def get(self, cls):
    return self.settings[cls]


class UsageError(Exception):
  """A flag mistake: one line, exit 2."""


def fail(message):
  """Prints one line "error: <message>" on stderr and exits with code 2."""
  message = " ".join(str(message).split())  # always exactly one line
  sys.stderr.write(f"error: {message}\n")
  sys.stderr.flush()
  sys.exit(EXIT_USAGE)


# ----------------------------------------------------------------------------- flags from fields


class _FieldParser(flags.ArgumentParser):
  """Parses a flag's text as its field's type and checks its range (tfinpaint.config)."""

  def __init__(self, name, tp, meta):
    super().__init__()
    self._name, self._tp, self._meta = name, tp, meta

  def parse(self, argument):
    from tfinpaint import config  # pylint: disable=g-import-not-at-top
    if not isinstance(argument, str):
      return argument
    value = config.parse(self._tp, argument, what=self._name.split(".")[-1])
    config.check_value(self._name.split(".")[-1], self._tp, value, self._meta)
    return value

  def flag_type(self):
    from tfinpaint import config  # pylint: disable=g-import-not-at-top
    return config.type_name(self._tp)


def _define(fv, name, tp, meta, help_text):
  from tfinpaint import config  # pylint: disable=g-import-not-at-top
  inner, _ = config.optional(tp)
  if inner is bool:
    flags.DEFINE_boolean(name, None, help_text, flag_values=fv)
  else:
    flags.DEFINE(_FieldParser(name, tp, meta), name, None, help_text, flag_values=fv)


def _experiment_paths(experiment, sections):
  """{dotted path: (field, type, value)} of the experiment leaves under `sections`."""
  from tfinpaint import config  # pylint: disable=g-import-not-at-top
  out = {}
  for path, f, tp, value in config.leaves(experiment):
    if any(path == s or path.startswith(s + ".") for s in sections):
      out[path] = (f, tp, value)
  return out


def _settings_fields(command):
  """[(settings class, field, type)] of the command's own settings flags."""
  out = []
  for cls, skip in command.settings:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
      if f.name not in skip:
        out.append((cls, f, hints[f.name]))
  return out


def _option_flags():
  """{name: (python type, help)} of the request options (the run's seed is a setting)."""
  from tfinpaint.inpainting import base  # pylint: disable=g-import-not-at-top
  out = {}
  for name, (dtype, text, kinds) in base.request_options().items():
    if name != "seed":
      out[name] = (int if dtype.is_integer else float, f"{text} ({', '.join(kinds)}; default: "
                                                      "the exported model's)")
  return out


def _flag_names(command, experiment):
  names = {f.name for _, f, _ in _settings_fields(command)}
  if command.sections:  # only a command with experiment sections takes --config
    names.add("config")
  names |= {f"config.{p}" for p in _experiment_paths(experiment, command.sections)}
  if command.options:
    names |= set(_option_flags())
  return names


def _refusal(command, name, commands, experiment):
  """One line for a flag `command` does not take: which commands take it."""
  takers = [c for c in commands.values() if c.name != command.name and
            name in _flag_names(c, experiment)]
  if takers:
    where = ", ".join(f"bin.{c.name}" for c in takers)
    return f"bin.{command.name} takes no --{name} ({where} take{'s' if len(takers) == 1 else ''} " \
           f"it); see python -m bin.{command.name} --help"
  if name.startswith("config."):
    return (f"--{name}: the experiment has no such field; see python -m bin.{command.name} "
            "--config=<experiment.py> --help")
  return f"unknown flag --{name}; see python -m bin.{command.name} --help"


# ----------------------------------------------------------------------------- parsing


def _read_args(argv):
  """argv with flagfiles expanded (absl's reader), as (args, --config value or None)."""
  scratch = flags.FlagValues()
  try:
    args = scratch.read_flags_from_files(list(argv[1:]), force_gnu=False)
  except flags.CantOpenFlagFileError as e:
    raise UsageError(f"cannot read the flagfile: {str(e).split('flagfile:', 1)[-1].strip()}")
  except UnicodeDecodeError:
    raise UsageError(f"the flagfile {_undecodable_flagfile(argv[1:])} is not UTF-8 text (a "
                     "flagfile holds one --flag=value per line)") from None
  config_path = None
  for i, arg in enumerate(args):
    if arg.startswith("--config="):
      config_path = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(args):
      config_path = args[i + 1]
  return args, config_path


def _flagfiles(args):
  """The flagfiles named in `args` (--flagfile=F, --flagfile F)."""
  out = []
  for i, arg in enumerate(args):
    if arg.startswith("--flagfile="):
      out.append(arg.split("=", 1)[1])
    elif arg == "--flagfile" and i + 1 < len(args):
      out.append(args[i + 1])
  return out


def _undecodable_flagfile(args, seen=()):
  """The first flagfile (following nested ones) that is not UTF-8, for the error line."""
  for path in _flagfiles(args):
    if path in seen:
      continue
    try:
      with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    except UnicodeDecodeError:
      return path
    except OSError:
      continue
    nested = _undecodable_flagfile([line.strip() for line in text.splitlines()],
                                   seen + (path,))
    if nested != "?":
      return nested
  return "?"


def parse(command_name, argv):
  """Parses `argv` (argv[0] is the program) as `command_name` does; returns Args.

  Raises UsageError for every flag mistake; InputError from loading the experiment.
  """
  from tfinpaint import config, experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  commands = _commands()
  command = commands[command_name]
  args, config_path = _read_args(argv)
  if config_path is not None and not command.sections:
    raise UsageError(_refusal(command, "config", commands, experiment_lib.Experiment()))
  if config_path:
    experiment = experiment_lib.load(config_path)
  elif config_path == "":
    raise UsageError("--config must name an experiment file (configs/<name>.py)")
  elif command.needs_experiment:
    raise UsageError(f"bin.{command_name} needs an experiment: --flagfile=configs/<name>.flags "
                     "or --config=configs/<name>.py")
  else:
    experiment_lib.import_builtin()
    experiment = experiment_lib.Experiment()

  fv = flags.FlagValues()
  flags.DEFINE_string("config", None, "the experiment: a Python file whose get_config() "
                      "returns a tfinpaint.experiment.Experiment (configs/<name>.py)",
                      flag_values=fv)
  paths = _experiment_paths(experiment, command.sections)
  for path, (f, tp, value) in paths.items():
    _define(fv, f"config.{path}", tp, f.metadata, config.help_text(f, tp, value))
  settings_fields = _settings_fields(command)
  for _, f, tp in settings_fields:
    _define(fv, f.name, tp, f.metadata, config.help_text(f, tp, f.default if f.default
                                                         is not dataclasses.MISSING else None))
  options = _option_flags() if command.options else {}
  for name, (tp, text) in options.items():
    if name in fv:
      raise TypeError(f"request option {name} clashes with a setting of bin.{command_name}")
    _define(fv, name, tp, {}, text)

  if any(a.split("=")[0] in _HELP for a in args):
    raise _Help(fv, command_name)
  try:
    rest = fv(["prog"] + args, known_only=False)
  except flags.UnrecognizedFlagError as e:
    raise UsageError(_refusal(command, e.flagname, commands, experiment)) from None
  except flags.Error as e:
    raise UsageError(str(e)) from None
  if len(rest) > 1:
    raise UsageError(f"unexpected positional argument {rest[1]!r}; pass everything as --flags "
                     "(see --help)")

  for path in paths:
    value = fv[f"config.{path}"].value
    if fv[f"config.{path}"].present and value is not None:
      try:
        experiment = config.override(experiment, path, value)
      except (ValueError, TypeError) as e:
        raise UsageError(f"--config.{path}: {e}") from None
  settings = {}
  for cls, skip in command.settings:
    names = {f.name for f in dataclasses.fields(cls)} - set(skip)
    given = {n: fv[n].value for n in names if fv[n].present and fv[n].value is not None}
    try:
      settings[cls] = cls(**given)
    except (ValueError, TypeError) as e:
      raise UsageError(str(e)) from None
  chosen = {n: fv[n].value for n in options if fv[n].present and fv[n].value is not None}
  return Args(command_name, experiment, settings, chosen, config_path)


class _Help(Exception):

  def __init__(self, fv, command):
    super().__init__(command)
    self.fv, self.command = fv, command


def _print_help(main_doc, fv):
  sys.stdout.write((main_doc or "").strip() + "\n\nflags:\n")
  for name in sorted(fv):
    flag = fv[name]
    sys.stdout.write(f"  --{name}: {flag.help}\n")
  sys.stdout.flush()


def quiet_tensorflow():
  """Silences TensorFlow's and Keras' Python-side chatter without importing TensorFlow."""
  import logging as std_logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)
  std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
  os.environ.setdefault("AUTOGRAPH_VERBOSITY", "0")
  warnings.filterwarnings("ignore", module=r"(keras|tensorflow|tensorflow_datasets)(\..*)?")


def _sigterm(signum, frame):
  del signum, frame
  raise KeyboardInterrupt("SIGTERM")


def run(main, command):
  """Runs main(Args) for `command` with the shared handling; never returns."""
  from tfinpaint.errors import InputError  # pylint: disable=g-import-not-at-top
  quiet_tensorflow()
  # File names may hold bytes that are not UTF-8: print them escaped, never fail on them.
  sys.stdout.reconfigure(errors="backslashreplace")
  signal.signal(signal.SIGTERM, _sigterm)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    try:
      args = parse(command, sys.argv)
    except _Help as h:
      _print_help(sys.modules[main.__module__].__doc__, h.fv)
      sys.exit(0)
    main(args)
  except (UsageError, InputError) as e:
    fail(e)
  except FileNotFoundError as e:
    fail(f"no such file or directory: {e.filename or e}")
  except KeyboardInterrupt:
    sys.stderr.write("interrupted\n")
    sys.exit(EXIT_INTERRUPTED)
  sys.exit(0)
