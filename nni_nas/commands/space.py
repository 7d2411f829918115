"""``nni-nas space [NAME]``: list spaces, or print a space's labels, choices and size."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="space name, or your own as file.py:Class or package.module:Class "
                                                "(omit to list every registered space)")
    parser.add_argument("--data", help="data set whose input shape and classes to use: a registered name or your "
                                       "own file.py:function (default: digits for image spaces, pydocs for text "
                                       "spaces, the space's default input_shape and num_classes for signal spaces; "
                                       "none for your own space unless it takes input_shape or num_classes)")
    parser.add_argument("--module", default="classification",
                        help="the module the data is for: classification (labels are classes) or regression (targets "
                             "are real values; their number per sample is the network's output size)")
    parser.add_argument("--space-args", default="{}", help="space arguments as JSON, e.g. '{\"max_depth\": 3}'")
    parser.add_argument("--json", action="store_true", help="print the choices as JSON")


def run(args: argparse.Namespace) -> int:
    import model_spaces
    import nni_nas.components as components
    import nni_nas.user_code as user_code
    from nni_nas.arch import count_networks, search_choices, space_size
    from nni_nas.config import NasSettings
    from nni_nas.errors import ConfigError

    if not args.name:
        for name in model_spaces.space_names():
            doc = (model_spaces.get_space_class(name).__doc__ or "").strip().split("\n")[0]
            print(f"{name:20s} {doc}")
        return 0
    cls = model_spaces.get_space_class(args.name)
    rank = getattr(cls, "input_rank", 3)
    default_data = "pydocs" if rank == 1 else "digits"
    try:
        space_args = json.loads(args.space_args)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--space-args is not JSON ({err}); write e.g. '{{\"max_depth\": 3}}'") from None
    if not isinstance(space_args, dict):
        raise ConfigError(f"--space-args must be a JSON object of space arguments, got {args.space_args}")
    settings = NasSettings(space=args.name, data=args.data or default_data, space_args=space_args,
                           module=args.module, code_dir=user_code.code_dir())
    if args.data is None and rank == 2:  # no signal data set is embedded: the space's own default signal size
        input_shape, num_classes = _constructor_defaults(cls)
    else:
        input_shape, num_classes = components.space_info(settings) if args.data is None else \
            components.data_shape(settings)
    space = components.build_space(settings, (input_shape, num_classes) if input_shape is not None else None)
    choices = search_choices(space)
    if args.json:
        print(json.dumps(choices, indent=2))
        return 0
    if not choices:
        print(f"space {args.name} has no choices: it is one fixed network")
        return 0
    width = max(len(label) for label in choices)
    outputs = "targets" if args.module == "regression" else "classes"
    data_text = f" for input {tuple(input_shape)}, {num_classes} {outputs}" if input_shape is not None else ""
    print(f"space {args.name}{data_text}")
    for label, values in choices.items():
        print(f"  {label.ljust(width)}  {len(values):3d}  {values}")
    size, distinct = space_size(choices), count_networks(space, choices)
    if distinct == size:
        print(f"{len(choices)} labels, {size:,} architectures")
    elif distinct is not None:
        print(f"{len(choices)} labels, {size:,} architectures (label settings), {distinct:,} distinct networks "
              "(settings that differ only in labels the network does not use, like op3 of a depth-2 network, are "
              "one network; counted by enumerating every setting's canonical form)")
    else:
        print(f"{len(choices)} labels, {size:,} architectures (label settings); fewer distinct networks, since "
              "settings that differ only in unused labels are one network (too many settings to count them one by "
              "one)")
    return 0


def _constructor_defaults(cls: type) -> tuple[tuple[int, ...], int]:
    """The ``input_shape`` and ``num_classes`` a registered space is built with when none are given."""
    import inspect

    parameters = inspect.signature(getattr(cls, "_init_wrapped", cls.__init__)).parameters
    return tuple(parameters["input_shape"].default), parameters["num_classes"].default
