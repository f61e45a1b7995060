"""The ``dingrelay`` command, one module per subcommand, each importing its dependencies lazily. Part of the
composition root: it may read settings and import anything, and it is the only part of the product that imports
the emulator (``demo`` and ``emulator``)."""

from __future__ import annotations

import click

from .. import __version__
from .db import db
from .demo import demo
from .emulator import emulator
from .messages import messages
from .passwd import passwd
from .render import render
from .send import send
from .serve import check, serve, worker
from .stream import stream


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dingrelay")
def main() -> None:
    """dingrelay: a self-hosted DingTalk robot gateway."""


main.add_command(send)
main.add_command(emulator)
main.add_command(serve)
main.add_command(worker)
main.add_command(check)
main.add_command(render)
main.add_command(demo)
main.add_command(stream)
main.add_command(db)
main.add_command(messages)
main.add_command(passwd)
