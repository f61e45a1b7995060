"""Options and helpers shared by several subcommands."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import click

from ..config import ENV_VAR, ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from ..wiring import Services

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), envvar=ENV_VAR,
    help=f"YAML configuration file (env {ENV_VAR}).",
)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def settings_or_exit(path: str | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def services_or_exit(settings: Settings) -> Services:
    """The composition root's services for ``settings``; a problem only building them finds (a bot's handlers
    module, a reply template) is one line naming the key, exit 2."""
    from ..wiring import build

    try:
        return build(settings)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
