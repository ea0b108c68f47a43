"""Typed configuration: the one home of every default, and what flags, ranges and JSON come from.

Every setting of tfinpaint is a field of a frozen dataclass, declared with `field`: its type
(the annotation), its default, a help text and its valid range live there and nowhere else.
From the same declaration come

  * the checks at construction (`Config.__post_init__`): a value of the wrong type or outside
    its range is a ValueError naming the field (the CLIs turn it into one `error:` line naming
    the flag);
  * the flags of the commands (bin/cli.py): `--config.<section>.<field>` for an experiment's
    sections and plain `--<field>` for a command's own settings, with the help text and the
    default in `--help`;
  * the text form of a value (`parse`) and the JSON saved in workdirs and exports (`to_json`,
    `from_json`).

Sections that take one of several kinds (a network, a trainer, an inpainting method) are
dataclasses registered with `kind(family, name)`; their JSON carries the kind, so a workdir's
saved config rebuilds the same classes. Dataclasses rather than ml_collections: typed fields
checked by the type system and at construction, frozen values, and no dependency beyond the
standard library (the approach of tensorflow/models' `hyperparams` dataclasses).
"""

import dataclasses
import math
import types
import typing

from tfinpaint.errors import InputError

MISSING = dataclasses.MISSING
_KINDS = {}  # (family, kind) -> class


def field(default=MISSING, *, help, low=None, high=None, low_open=False, choices=None,  # pylint: disable=redefined-builtin
          factory=None, derived=False):
  """A config field with its help text and valid range.

  Args:
    default: the default (the only place it is written).
    help: one line for --help and the README's option lists.
    low, high: inclusive bounds of a number (low_open: low excluded).
    choices: the allowed values of a string.
    factory: default_factory for mutable defaults (dicts).
    derived: the value comes from elsewhere (the data: image shape, classes) and is no flag.
  """
  metadata = dict(help=help, low=low, high=high, low_open=low_open, choices=choices,
                  derived=derived)
  if factory is not None:
    return dataclasses.field(default_factory=factory, metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


def kind(family, name):
  """Class decorator: registers a config class as kind `name` of `family` (network, trainer,
  method), so JSON naming it rebuilds it. The same class loaded again (its module re-imported,
  or its file loaded as a config) replaces the entry; another class under a taken name is a
  ValueError."""
  def register(cls):
    known = _KINDS.get((family, name))
    if known is not None and identity(known) != identity(cls):
      raise ValueError(f"{family} kind {name!r} is already registered by {known.__name__}")
    cls.FAMILY, cls.KIND = family, name
    _KINDS[(family, name)] = cls
    return cls
  return register


def identity(cls):
  """(source file, qualified name): the same for a class whatever name its module got."""
  import sys  # pylint: disable=g-import-not-at-top
  module = sys.modules.get(cls.__module__)
  return (getattr(module, "__file__", None) or cls.__module__, cls.__qualname__)


def kind_class(family, name):
  """The config class registered as `name` in `family`; InputError listing the known ones."""
  cls = _KINDS.get((family, name))
  if cls is None:
    known = sorted(k for f, k in _KINDS if f == family)
    raise InputError(f"unknown {family} kind {name!r}; this version knows "
                     f"{', '.join(known) or 'none'}")
  return cls


def kinds(family):
  return tuple(sorted(k for f, k in _KINDS if f == family))


# ----------------------------------------------------------------------------- types


def _hints(cls):
  return typing.get_type_hints(cls)


def optional(tp):
  """(inner type, True) for `X | None`, else (tp, False)."""
  if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1 and len(typing.get_args(tp)) == 2:
      return args[0], True
  return tp, False


def _is_config(tp):
  return isinstance(tp, type) and issubclass(tp, Config)


def type_name(tp):
  inner, is_optional = optional(tp)
  origin = typing.get_origin(inner)
  if origin is tuple:
    name = f"comma-separated {type_name(typing.get_args(inner)[0])}s"
  elif origin is dict:
    key, value = typing.get_args(inner)
    name = f"comma-separated {type_name(key)}={type_name(value)} pairs"
  else:
    name = getattr(inner, "__name__", str(inner))
  return name + (" (optional)" if is_optional else "")


def _describe_range(meta):
  parts = []
  if meta.get("choices"):
    parts.append("one of " + ", ".join(map(str, meta["choices"])))
  if meta.get("low") is not None:
    parts.append(f"{'>' if meta.get('low_open') else '>='} {meta['low']:g}")
  if meta.get("high") is not None:
    parts.append(f"<= {meta['high']:g}")
  return " and ".join(parts)


def check_value(name, tp, value, meta):
  """Raises ValueError when `value` is not a `tp` within the field's range."""
  inner, is_optional = optional(tp)
  if value is None:
    if is_optional:
      return
    raise ValueError(f"{name} must be set")
  origin = typing.get_origin(inner)
  if origin is tuple:
    if not isinstance(value, tuple):
      raise ValueError(f"{name} must be a tuple, got {type(value).__name__}")
    for item in value:
      check_value(name, typing.get_args(inner)[0], item, meta)
    return
  if origin is dict:
    if not isinstance(value, dict):
      raise ValueError(f"{name} must be a dict, got {type(value).__name__}")
    key_type, value_type = typing.get_args(inner)
    for k, v in value.items():
      check_value(f"{name} key", key_type, k, {})
      check_value(f"{name}[{k}]", value_type, v, meta)
    return
  if _is_config(inner):
    if not isinstance(value, inner):
      raise ValueError(f"{name} must be a {inner.__name__}, got {type(value).__name__}")
    return
  if inner is bool:
    ok = isinstance(value, bool)
  elif inner is int:
    ok = isinstance(value, int) and not isinstance(value, bool)
  elif inner is float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
  else:
    ok = isinstance(value, inner)
  if not ok:
    raise ValueError(f"{name} must be {type_name(tp)}, got {value!r}")
  if inner in (int, float):
    if not math.isfinite(value):
      raise ValueError(f"{name} must be finite, got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    below = low is not None and (value <= low if meta.get("low_open") else value < low)
    if below or (high is not None and value > high):
      raise ValueError(f"{name} must be {_describe_range(meta)}, got {value!r}")
  if meta.get("choices") and value not in meta["choices"]:
    raise ValueError(f"{name} must be {_describe_range(meta)}, got {value!r}")


class Config:
  """Base of every config dataclass: fields checked at construction (see the module doc)."""

  def __post_init__(self):
    hints = _hints(type(self))
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      inner, _ = optional(hints[f.name])
      if inner is float and isinstance(value, int) and not isinstance(value, bool):
        object.__setattr__(self, f.name, float(value))  # 1 -> 1.0 for float fields
        value = float(value)
      if typing.get_origin(inner) is tuple and isinstance(value, list):
        value = tuple(value)
        object.__setattr__(self, f.name, value)
      check_value(f.name, hints[f.name], value, f.metadata)

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------- text -> value


def parse(tp, text, what="value"):
  """A value of type `tp` from its text form (flags and overrides); ValueError if malformed.

  bool: true/false/1/0/yes/no; numbers: finite; tuples: comma-separated items ("none" = the
  empty tuple; "" is refused, so an empty --flag= never passes unnoticed);
  dicts: comma-separated key=value pairs; an optional type accepts "none". Strings must not be empty.
  """
  inner, is_optional = optional(tp)
  text = str(text).strip()
  if is_optional and text.lower() == "none":
    return None
  origin = typing.get_origin(inner)
  if origin is tuple:
    item = typing.get_args(inner)[0]
    if text.lower() == "none":
      return ()
    items = [t for t in text.split(",") if t.strip()]
    if not items:
      raise ValueError(f"{what}: must not be empty (none = no items)")
    return tuple(parse(item, t, what) for t in items)
  if origin is dict:
    key_type, value_type = typing.get_args(inner)
    out = {}
    for pair in (p for p in text.split(",") if p.strip()):
      key, sep, value = pair.partition("=")
      if not sep:
        raise ValueError(f"{what}: expected name=value pairs, got {pair!r}")
      out[parse(key_type, key, what)] = parse(value_type, value, what)
    return out
  if inner is bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "t", "y"):
      return True
    if lowered in ("0", "false", "no", "f", "n"):
      return False
    raise ValueError(f"{what}: expected true or false, got {text!r}")
  if inner is int:
    try:
      return int(text, 10)
    except ValueError:
      raise ValueError(f"{what}: expected an integer, got {text!r}") from None
  if inner is float:
    try:
      value = float(text)
    except ValueError:
      raise ValueError(f"{what}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
      raise ValueError(f"{what}: expected a finite number, got {text!r}")
    return value
  if inner is str:
    if not text:
      raise ValueError(f"{what}: must not be empty")
    return text
  raise TypeError(f"cannot parse a {inner!r} from text")


def format_value(value):
  """The text form of a value (what `parse` reads back)."""
  if value is None:
    return "none"
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, tuple):
    return ",".join(format_value(v) for v in value) if value else "none"
  if isinstance(value, dict):
    return ",".join(f"{k}={format_value(v)}" for k, v in value.items())
  if isinstance(value, float):
    return f"{value:g}"
  return str(value)


# ----------------------------------------------------------------------------- the tree


def leaves(obj, prefix=""):
  """[(dotted path, field, type, value)] of every settable (non-derived) leaf under `obj`."""
  out = []
  hints = _hints(type(obj))
  for f in dataclasses.fields(obj):
    if f.metadata.get("derived"):
      continue
    path = f"{prefix}{f.name}"
    value = getattr(obj, f.name)
    if isinstance(value, Config):
      out += leaves(value, path + ".")
    elif not _is_config(optional(hints[f.name])[0]):
      out.append((path, f, hints[f.name], value))
  return out


def get(obj, path):
  for part in path.split("."):
    obj = getattr(obj, part)
  return obj


def override(obj, path, value):
  """A copy of `obj` with the field at dotted `path` set to `value` (checked on construction)."""
  head, _, rest = path.partition(".")
  if not rest:
    return dataclasses.replace(obj, **{head: value})
  return dataclasses.replace(obj, **{head: override(getattr(obj, head), rest, value)})


def help_text(f, tp, value):
  """--help text of a field: its help, its type and range, its current value."""
  rng = _describe_range(f.metadata)
  return (f"{f.metadata.get('help', '')} [{type_name(tp)}{'; ' + rng if rng else ''}; "
          f"default {format_value(value)}]")


# ----------------------------------------------------------------------------- JSON


def to_json(obj):
  """JSON-able dict of a config (kinds recorded, tuples as lists)."""
  if isinstance(obj, Config):
    out = {}
    if getattr(type(obj), "KIND", None):
      out["kind"] = type(obj).KIND
    for f in dataclasses.fields(obj):
      out[f.name] = to_json(getattr(obj, f.name))
    return out
  if isinstance(obj, tuple):
    return [to_json(v) for v in obj]
  if isinstance(obj, dict):
    return {str(k): to_json(v) for k, v in obj.items()}
  return obj


def from_json(cls, values, what="config"):
  """The `cls` config of `values` (to_json's output); InputError when it does not fit.

  `cls` may be a family name ("network", ...): the kind in `values` picks the class.
  """
  if values is None:
    return None
  if not isinstance(values, dict):
    raise InputError(f"{what} must be a JSON object, got {type(values).__name__}")
  values = dict(values)
  named = values.pop("kind", None)
  if isinstance(cls, str):
    cls = kind_class(cls, named)
  hints = _hints(cls)
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise InputError(f"{what}: unknown {cls.__name__} field(s) {', '.join(unknown)}")
  kwargs = {}
  for name, value in values.items():
    kwargs[name] = _value_from_json(hints[name], value, f"{what}.{name}")
  try:
    return cls(**kwargs)
  except (TypeError, ValueError) as e:
    raise InputError(f"{what}: {e}") from None


def _value_from_json(tp, value, what):
  inner, _ = optional(tp)
  if value is None:
    return None
  if _is_config(inner):
    if isinstance(value, dict) and "kind" in value:
      return from_json(getattr(inner, "FAMILY", None) or _family_of_kind(value["kind"]), value,
                       what)
    return from_json(inner, value, what)
  origin = typing.get_origin(inner)
  if origin is tuple and isinstance(value, list):
    item = typing.get_args(inner)[0]
    return tuple(_value_from_json(item, v, what) for v in value)
  if origin is dict and isinstance(value, dict):
    return dict(value)
  return value


def _family_of_kind(name):
  families = [f for f, k in _KINDS if k == name]
  if len(families) != 1:
    raise InputError(f"unknown or ambiguous config kind {name!r}")
  return families[0]
