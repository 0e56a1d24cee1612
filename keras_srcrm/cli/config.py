"""`--config FILE`: a command's options from a YAML or JSON file.

The file is a mapping from option names to values, spelled as on the
command line without the dashes or with underscores (`learning-rate`,
`learning_rate`); flags given on the command line override it. A `run.json`
written by `keras-srcrm train` is accepted as it is: its `config` entry holds
every option of that run, so `--config runs/a/run.json` repeats it.
"""

import argparse
import json
from pathlib import Path

# Options that a configuration file does not set.
NOT_CONFIGURABLE = frozenset({"config", "help"})


def read_config_file(path):
    """Returns the mapping of options in a YAML or JSON file.

    Raises:
        ValueError: If the file cannot be read or parsed, or is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config '{path}' is not a file.")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--config '{path}' is not valid JSON: {error}") from None
    else:
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            problem = " ".join(str(error).split())
            raise ValueError(
                f"--config '{path}' is not valid YAML: {problem}"
            ) from None
    if isinstance(values, dict) and isinstance(values.get("config"), dict):
        values = values["config"]  # a run.json
    if not isinstance(values, dict):
        raise ValueError(
            f"--config '{path}' must hold a mapping of option names to values. "
            f"Received: a {type(values).__name__}"
        )
    return values


def _options_by_name(parser):
    """Every option of `parser` by its spellings: `learning-rate`,
    `learning_rate`."""
    options = {}
    for action in parser._actions:
        if not action.option_strings or action.dest in NOT_CONFIGURABLE:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        options[action.dest] = action
        options[action.dest.replace("_", "-")] = action
        for flag in action.option_strings:
            options[flag.lstrip("-")] = action
    return options


def _convert(action, value, flag):
    """`value` as the option's action would have stored it."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ValueError(
                f"{flag} in --config takes true or false. Received: {value!r}"
            )
        return value
    if value is None:
        return None
    many = action.nargs in ("+", "*") or isinstance(action.nargs, int)
    values = list(value) if isinstance(value, (list, tuple)) and many else [value]
    if isinstance(value, (list, tuple)) and not many:
        raise ValueError(f"{flag} in --config takes one value. Received: {value!r}")
    converted = []
    for item in values:
        if isinstance(item, (dict, list, tuple)) or (
            isinstance(item, bool) and action.type is not None
        ):
            raise ValueError(f"{flag} in --config: {item!r} is not a valid value.")
        if action.type is not None:
            try:
                item = action.type(item if isinstance(item, str) else item)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{flag} in --config takes {action.type.__name__} values. "
                    f"Received: {item!r}"
                ) from None
            if action.type is int and isinstance(value, float):
                raise ValueError(
                    f"{flag} in --config takes an int. Received: {value!r}"
                )
        elif not isinstance(item, str):
            item = str(item)
        if action.choices is not None and item not in action.choices:
            choices = ", ".join(str(choice) for choice in action.choices)
            raise ValueError(
                f"{flag} in --config must be one of {choices}. Received: {item!r}"
            )
        converted.append(item)
    if many:
        if isinstance(action.nargs, int) and len(converted) != action.nargs:
            raise ValueError(
                f"{flag} in --config takes {action.nargs} values. Received: {value!r}"
            )
        return converted
    return converted[0]


def config_defaults(parser, values, path):
    """The parser defaults that the configuration `values` set.

    Args:
        parser: The command's `argparse` parser.
        values: The mapping read from the file.
        path: The file, for the messages.

    Returns:
        A dict from option `dest` to value, for `parser.set_defaults`.

    Raises:
        ValueError: For an unknown option or a value the option does not take.
    """
    options = _options_by_name(parser)
    defaults = {}
    for key, value in values.items():
        action = options.get(str(key).lstrip("-"))
        if action is None:
            known = sorted({a.option_strings[-1] for a in options.values()})
            raise ValueError(
                f"--config '{path}': unknown option {key!r}. The options are "
                f"{', '.join(known)}."
            )
        flag = action.option_strings[-1]
        defaults[action.dest] = _convert(action, value, flag)
        if action.dest == "split":
            defaults["split_given"] = True
    return defaults
