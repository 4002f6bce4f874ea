"""The ``tracerdiff`` command line.

Each stage registers its subcommands from its own module here; shared helpers
(error handling, JSON output, tables) live in :mod:`tracerdiff.cli.common`.
"""

from __future__ import annotations

from tracerdiff.cli.common import app, main

# Subcommand modules register themselves on ``app`` when imported.
from tracerdiff.cli import models_cmds  # noqa: F401,E402
from tracerdiff.cli import io_cmds  # noqa: F401,E402
from tracerdiff.cli import profiles_cmds  # noqa: F401,E402
from tracerdiff.cli import boundaries_cmds  # noqa: F401,E402
from tracerdiff.cli import study_cmds  # noqa: F401,E402
from tracerdiff.cli import simulate_cmds  # noqa: F401,E402
from tracerdiff.cli import map_cmds  # noqa: F401,E402
from tracerdiff.cli import typeb_cmds  # noqa: F401,E402

__all__ = ["app", "main"]
