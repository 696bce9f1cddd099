"""Entry points: ``pagerbridge``, ``im``, ``pd-send``, ``pd-queue``, ``update-watcher``.

Each reads its configuration (flags, environment, files) and passes objects down; nothing below
the CLI reads configuration. Heavy imports happen inside the command that needs them.
"""
