"""absl flags for every `VocoderConfig` field, and flags -> config.

Each config field becomes a flag of the same name with the dataclass default
(tuples as comma lists; `band_factors` as `;`-separated comma lists, e.g.
`4,4,4,4;4,4,4,2;...`). Flags given on the command line or in a
`--flagfile` are the only ones that reach the config; every other field
comes from a base config: the dataclass defaults for a new run, the saved
`config.json` when a run resumes (`train.py`).
"""

import dataclasses
import typing
from typing import Any, Dict, Optional

from absl import flags

from tfvocoder.config import VocoderConfig

FLAGS = flags.FLAGS


def _field_kind(field):
  hint = typing.get_type_hints(VocoderConfig)[field.name]
  origin = typing.get_origin(hint)
  args = typing.get_args(hint)
  if origin is typing.Union:          # Optional[X]
    hint = [a for a in args if a is not type(None)][0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin is tuple:
    return "nested" if typing.get_origin(args[0]) is tuple else "list"
  return hint


def _format_default(value, kind):
  if kind == "nested":
    return ";".join(",".join(str(f) for f in row) for row in value)
  if kind == "list":
    return ",".join(str(v) for v in value)
  return value


def define_config_flags(flag_values=FLAGS) -> None:
  """Define one flag per VocoderConfig field (idempotent)."""
  for field in dataclasses.fields(VocoderConfig):
    if field.name in flag_values:
      continue
    kind = _field_kind(field)
    default = _format_default(field.default, kind)
    help_text = f"VocoderConfig.{field.name} (default {default!r})"
    if kind is bool:
      flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
    elif kind is int:
      flags.DEFINE_integer(field.name, default, help_text,
                           flag_values=flag_values)
    elif kind is float:
      flags.DEFINE_float(field.name, default, help_text,
                         flag_values=flag_values)
    else:   # str, lists, nested lists, Optional[str|float] as strings
      flags.DEFINE_string(field.name, None if default is None else
                          str(default), help_text, flag_values=flag_values)


def _parse(field, text):
  kind = _field_kind(field)
  if kind == "nested":
    return tuple(tuple(int(v) for v in row.split(",")) for row in
                 text.split(";"))
  if kind == "list":
    return tuple(int(v) for v in text.split(","))
  if kind is float:
    return float(text)
  return text


def given_values(flag_values=FLAGS) -> Dict[str, Any]:
  """{field: parsed value} of the config flags given (command line or
  flagfile: absl's `present`).

  Raises:
    ValueError: a value that does not parse, naming the flag.
  """
  values = {}
  for field in dataclasses.fields(VocoderConfig):
    flag = flag_values[field.name]
    if flag.present:
      values[field.name] = _flag_value(field, flag)
  return values


def _flag_value(field, flag):
  value = flag.value
  if isinstance(value, str) and _field_kind(field) is not str:
    try:
      value = _parse(field, value)
    except ValueError as error:
      raise ValueError(f"--{field.name}={flag.value!r}: {error}") from error
  return value


def config_from_flags(flag_values=FLAGS, base: Optional[VocoderConfig] = None,
                      only_given: bool = True) -> VocoderConfig:
  """Build the config from parsed flags.

  Args:
    flag_values: parsed flags holding `define_config_flags`'s.
    base: values for flags not given (default: the dataclass defaults; on
      resume, the run's saved config).
    only_given: take only flags set on the command line or flagfile; False:
      every flag's value, defaults included (`base` is then unused).
  Returns:
    `base` with the given flags' values.
  Raises:
    ValueError: a flag value that does not parse, or a config that fails
      `VocoderConfig`'s checks (the message names the field).
  """
  base = base or VocoderConfig()
  if only_given:
    return base.replace(**given_values(flag_values))
  return base.replace(**{
      field.name: _flag_value(field, flag_values[field.name])
      for field in dataclasses.fields(VocoderConfig)})
