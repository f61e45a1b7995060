"""``dingrelay passwd``: read a password on stdin, print its hash for ``dashboard.users.<name>.password_hash``.

At a terminal it asks twice without echoing; from a pipe it reads one line (``echo "$PW" | dingrelay passwd``).
The password itself is never printed.
"""

from __future__ import annotations

import sys

import click

from .options import fail

#: Shorter passwords are refused: the dashboard can requeue and cancel messages.
MIN_LENGTH = 8


@click.command()
def passwd() -> None:
    """Read a password on stdin and print its scrypt hash (for dashboard.users.<name>.password_hash)."""
    from ..dashboard.passwords import hash_password

    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password on stdin; for example: echo 'a long passphrase' | dingrelay passwd")
    if len(password) < MIN_LENGTH:
        fail(f"the password is shorter than {MIN_LENGTH} characters; choose a longer one")
    click.echo(hash_password(password))
