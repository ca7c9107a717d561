"""Recipe loading: YAML keys map one-to-one onto dataclass fields, unknown keys fail, flags override YAML.

Every stage declares its configuration as a dataclass that inherits :class:`StageConfig`. The same contract as
TRL's ``TrlParser`` (which we build on), with two additions a user needs: errors name the offending key *and* the
file, and YAML values are type-checked instead of being passed through raw.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import os
import re
import sys
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import RecipeError


def volatile_fields(config: Any) -> set[str]:
    """Fields that do not change what a stage computes (declared per class in ``volatile_fields``).

    They are left out of the config hash so that, e.g., moving a run folder, raising concurrency or turning on
    pushing does not invalidate finished work.
    """
    out: set[str] = set()
    for cls in type(config).__mro__:
        out |= set(cls.__dict__.get("volatile_fields", ()))
    return out


@dataclass
class StageConfig:
    """Fields every stage shares."""

    stage_name: ClassVar[str] = "stage"
    volatile_fields: ClassVar[tuple[str, ...]] = (
        "output_dir",
        "overwrite",
        "push_to_hub",
        "hub_repo_id",
        "hub_private",
    )

    output_dir: str | None = field(
        default=None,
        metadata={"help": "Folder this stage writes (config.yaml, data, summary.json). Default: runs/<stage>."},
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Discard finished or partial output in output_dir and start again."},
    )
    seed: int = field(default=42, metadata={"help": "Random seed for every sampling decision of this stage."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the output to the Hub when the stage ends."})
    hub_repo_id: str | None = field(
        default=None, metadata={"help": "Hub repo to push to, e.g. user/my-distillation-data."}
    )
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir or Path("runs") / self.stage_name)


def to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-safe dict of a dataclass (or of TrainingArguments-like objects)."""
    if hasattr(config, "to_dict"):  # transformers' TrainingArguments: masks tokens, serialises enums
        return {k: _plain(v) for k, v in config.to_dict().items()}
    out = {}
    for f in fields(config):
        value = getattr(config, f.name)
        out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "value") and type(value).__module__ != "builtins" and hasattr(type(value), "__members__"):
        return value.value  # enums
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def config_hash(*configs: Any) -> str:
    """Hash of the fields that define a stage's output (fields marked NON_SEMANTIC are skipped)."""
    payload = []
    for config in configs:
        skip = volatile_fields(config)
        semantic = {f.name: _plain(getattr(config, f.name)) for f in fields(config) if f.name not in skip}
        payload.append([type(config).__name__, semantic])
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_config(path: Path, *configs: Any) -> None:
    """Write the resolved config next to a stage's output (one mapping; keys are the dataclass fields)."""
    from .hub.redact import redact

    merged: dict[str, Any] = {}
    for config in configs:
        merged.update(to_dict(config))
    merged = redact(merged)  # no token, key or URL credential is ever written to disk
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True))


# --------------------------------------------------------------------------------------------------- type checks


def _check_value(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits a field annotation (loosely: ints are accepted for floats)."""
    if annotation is Any or annotation is typing.Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_check_value(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in (list, Sequence, tuple, Iterable) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(annotation)
        return not args or all(_check_value(v, args[0]) for v in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):  # enums: accept names or values
        return value in annotation.__members__ or value in [m.value for m in annotation]
    return True  # unknown annotation: let the dataclass decide


def _field_types(dataclass_types: Sequence[type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.init:
                out.setdefault(f.name, hints.get(f.name, Any))
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"Recipe file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RecipeError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping of field: value, got {type(data).__name__}")
    return {key: _expand_env(value, f"{path}: key '{key}'") for key, value in data.items()}


_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, where: str) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in string values, so recipes can name endpoints by variable."""
    if isinstance(value, list):
        return [_expand_env(v, where) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise RecipeError(f"{where} uses ${{{name}}}, which is not set; export {name}=... or edit the recipe")

    return _ENV_VAR.sub(sub, value)


# TRL's names for fields we call otherwise (`trl sft` recipes use them): accepted in recipes and as flags.
TRL_ALIASES = {"dataset_train_split": "dataset_split"}
# TRL fields with no counterpart here: refused with the reason, rather than accepted and silently ignored.
TRL_UNSUPPORTED = {
    "dataset_test_split": "training here evaluates no split; run `compeff-hf eval` on the trained model",
    "dataset_streaming": "the training set is loaded whole (rows are counted and validated before training)",
    "ignore_bias_buffers": "a workaround TRL scripts apply for DDP with LM bias/mask buffers; training here needs none",
}


def _aliases(dataclass_types: Sequence[type]) -> dict[str, str]:
    """TRL_ALIASES that apply: the target is a field here and the alias is not a field of its own."""
    known = _field_types(dataclass_types)
    return {alias: target for alias, target in TRL_ALIASES.items() if target in known and alias not in known}


def canonical_keys(data: dict[str, Any], dataclass_types: Sequence[type], source: str) -> dict[str, Any]:
    """Rename TRL's field names to ours; both names of one field in a recipe is an error."""
    out = dict(data)
    for alias, target in _aliases(dataclass_types).items():
        if alias in out:
            if target in out:
                raise RecipeError(f"{source}: '{alias}' (TRL's name) and '{target}' set the same field; keep one.")
            out[target] = out.pop(alias)
    return out


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """`--help` as `trl sft --help` shows it (each flag's default), keeping descriptions and epilogs as written."""


def validate_keys(
    data: dict[str, Any], dataclass_types: Sequence[type], source: str, allow: Iterable[str] = ()
) -> None:
    """Fail on keys no dataclass declares, and on values of the wrong type, naming key and file."""
    known = _field_types(dataclass_types)
    allowed = set(allow) | {"env"}
    for key, value in data.items():
        if key in allowed:
            continue
        if key not in known and key in TRL_UNSUPPORTED:
            raise RecipeError(f"{source}: '{key}' is a TRL field compeff-hf does not read: {TRL_UNSUPPORTED[key]}.")
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise RecipeError(
                f"{source}: unknown key '{key}'.{hint} Valid keys are the fields of "
                f"{', '.join(c.__name__ for c in dataclass_types)} (see `--help`)."
            )
        if value is not None and not _check_value(value, known[key]):
            raise RecipeError(
                f"{source}: key '{key}' has value {value!r} ({type(value).__name__}), "
                f"which does not fit its type {getattr(known[key], '__name__', known[key])}."
            )


def _one_line_error(message: str) -> typing.NoReturn:
    raise RecipeError(f"{message} (see `--help`)")


class RecipeParser:
    """Parse ``[--config recipe.yaml] [--field value ...]`` into dataclasses.

    Built on ``trl.TrlParser``: the YAML sets the defaults, command-line flags override them.
    """

    def __init__(
        self,
        dataclass_types: type | Sequence[type],
        prog: str | None = None,
        description: str | None = None,
        epilog: str | None = None,
    ):
        from trl import TrlParser

        self.dataclass_types = (
            list(dataclass_types) if isinstance(dataclass_types, (list, tuple)) else [dataclass_types]
        )
        self._parser = TrlParser(
            dataclass_types=self.dataclass_types,
            prog=prog,
            description=description,
            epilog=epilog,
            formatter_class=HelpFormatter,
        )
        self._parser.add_argument(
            "--config", type=str, default=None, help="YAML recipe; flags given after it override its values."
        )
        self._parser.error = _one_line_error  # argparse's usage dump buries the one line that matters

        for alias, target in _aliases(self.dataclass_types).items():
            self._parser.add_argument(
                f"--{alias}",
                f"--{alias.replace('_', '-')}",
                dest=target,
                default=argparse.SUPPRESS,
                help=f"TRL's name for --{target}.",
            )

    def print_help(self) -> None:
        self._parser.print_help()

    def parse(self, args: Sequence[str] | None = None) -> tuple[Any, ...]:
        args = list(sys.argv[1:] if args is None else args)
        source = "command line"
        given = [a for a in args if a == "--config" or a.startswith("--config=")]
        if len(given) > 1:
            raise RecipeError("--config given more than once; pass one recipe and override its values with flags")
        if given and given[0] != "--config":  # --config=path
            i = args.index(given[0])
            args[i : i + 1] = ["--config", given[0].split("=", 1)[1]]
        if "--config" in args:
            i = args.index("--config")
            if i + 1 >= len(args):
                raise RecipeError("--config needs a path to a YAML recipe")
            source = args[i + 1]
            del args[i : i + 2]
            data = canonical_keys(load_yaml(source), self.dataclass_types, source)
            validate_keys(data, self.dataclass_types, source)
            for key, value in (data.pop("env", None) or {}).items():
                os.environ[str(key)] = str(value)
            leftover = self._parser.set_defaults_with_config(**data)
            if leftover:  # validate_keys makes this unreachable unless a dataclass hides a field from argparse
                raise RecipeError(f"{source}: keys not accepted: {leftover}")
        try:
            parsed = self._parser.parse_args_into_dataclasses(args=args, return_remaining_strings=True)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise RecipeError(f"invalid command-line flags {args} (see the message above and `--help`)") from None
            raise
        except (ValueError, TypeError) as err:  # a dataclass __post_init__ refusing a value
            raise RecipeError(f"{source}: {str(err).strip().splitlines()[0]}") from None
        *configs, remaining = parsed
        # The config path itself is consumed by argparse into a namespace attribute; drop it from the leftovers.
        remaining = [r for r in remaining if r]
        if remaining:
            raise RecipeError(f"unknown command-line flags: {remaining} (see `--help`)")
        from .validate import check_ranges

        configs = [c for c in configs if dataclasses.is_dataclass(c)]
        for config in configs:
            check_ranges(config)
        return tuple(configs)


def parse_recipe(
    dataclass_types: type | Sequence[type], args: Sequence[str] | None = None, **kwargs: Any
) -> tuple[Any, ...]:
    """Convenience wrapper used by stages and recipes/sft.py."""
    return RecipeParser(dataclass_types, **kwargs).parse(args)
