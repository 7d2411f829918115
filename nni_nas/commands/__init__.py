"""One module per ``nni-nas`` verb: ``add_arguments(parser)`` and ``run(args) -> int``."""
