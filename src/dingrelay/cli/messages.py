"""``dingrelay messages list|show|requeue``: the message history for people without a browser.

They read the database of ``--config`` directly (a gateway may be running on it), and never migrate it: a schema
behind this version's is reported with the command that upgrades it. A requeue goes into the audit log as
``cli:<os user>``; a running gateway's worker sends the requeued messages within a second.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import click

from .options import config_option, fail, settings_or_exit

if TYPE_CHECKING:
    from ..delivery.model import Attempt, StoredMessage
    from ..delivery.sql import SqlStore

STATUSES = ("queued", "sending", "retrying", "delivered", "dead", "suppressed")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TITLE_WIDTH = 40


@click.group()
def messages() -> None:
    """Messages: list them, show one with its attempts, requeue dead ones."""


@contextmanager
def _store(config_path: str | None) -> Iterator[SqlStore]:
    from ..delivery.sql import SqlStore, schema_status
    from ..delivery.store import StorageUnavailable

    settings = settings_or_exit(config_path)
    where = settings.storage.masked()
    try:
        status = schema_status(settings.storage.url)
    except StorageUnavailable as exc:
        fail(f"{where}: {exc}")
    if status.revision != status.head:
        fail(f"{where}: the schema is {status.describe()}; upgrade it first (`dingrelay db upgrade`)")
    store = SqlStore(settings.storage.url, upgrade=False)
    try:
        yield store
    except StorageUnavailable as exc:
        fail(f"{where}: {exc}")
    finally:
        store.close()


def parse_since(value: str, now: float) -> float:
    """``2h``, ``30m``, ``1d``, ``1w`` ago, or an ISO time (local unless it names its offset)."""
    text = value.strip()
    if _DURATION.fullmatch(text):
        total = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        return now - total
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("give a duration such as 2h, 30m or 1d, or an ISO time such as "
                                 "2024-05-01T08:00 (local) or 2024-05-01T08:00+08:00") from None
    return (when if when.tzinfo is not None else when.astimezone()).timestamp()


def _since(ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else parse_since(value, time.time())


_filters = [
    click.option("--robot", help="Only this robot's messages (`session`: bot replies to sessionWebhooks)."),
    click.option("--source", help="Only messages from this source."),
    click.option("--since", callback=_since, metavar="WHEN",
                 help="Accepted since: a duration ago (2h, 30m, 1d) or an ISO time."),
]


def _with_filters(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_filters):
        f = option(f)
    return f


@messages.command("list")
@config_option
@click.option("--status", type=click.Choice(STATUSES), help="Only messages with this status.")
@_with_filters
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_(config_path: str | None, status: str | None, robot: str | None, source: str | None,
          since: float | None, limit: int) -> None:
    """Messages, newest first, as a table."""
    from ..delivery.model import MessageFilter, Status

    where = MessageFilter(status=Status(status) if status else None, robot=robot, source=source, since=since)
    with _store(config_path) as store:
        found = store.find(where, limit=limit)
    if not found:
        click.echo("no messages match")
        return
    rows = [("ID", "STATUS", "ROBOT", "SOURCE", "ACCEPTED", "TRIES", "TITLE")]
    rows += [(m.id, str(m.status), _robot(m), m.source or "-", _time(m.created_at), str(m.attempts),
              _clip(m.title, _TITLE_WIDTH)) for m in found]
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(_pad(cell, w) for cell, w in zip(r, widths, strict=True)).rstrip())
    if len(found) == limit:
        click.echo(f"(the newest {limit}; --limit shows more)")


@messages.command()
@config_option
@click.argument("message_id")
def show(config_path: str | None, message_id: str) -> None:
    """One message: status, attempts, why it was merged or suppressed, DingTalk JSON."""
    with _store(config_path) as store:
        m = store.get(message_id)
        if m is None:
            fail(f"no message {message_id}")
        attempts = store.attempts(m.id)
        carried = store.carried(m.id) if m.is_digest else []
    fields = [("status", str(m.status)), ("robot", _robot(m)), ("source", m.source or "-"), ("msgtype", m.msgtype),
              ("title", m.title), ("accepted", _time(m.created_at, zone=True)),
              ("updated", _time(m.updated_at, zone=True))]
    if m.delivered_at is not None:
        fields.append(("delivered", _time(m.delivered_at, zone=True)))
    if m.requeued_at is not None:
        fields.append(("requeued", _time(m.requeued_at, zone=True)))
    fields.append(("tries", f"{m.attempts}" + (" (since requeued)" if m.requeued_at is not None else "")))
    if m.why:
        fields.append(("why", m.why))
    if carried:
        named = ", ".join(c.id for c in carried[:10]) + (f" and {len(carried) - 10} more" if len(carried) > 10 else "")
        fields.append(("carries", f"{len(carried)} message(s): {named}"))
    if m.duplicates:
        fields.append(("repeats", f"{m.duplicates} later repeat(s) suppressed (delivery.suppress_window_seconds)"))
    if m.last_error:
        fields.append(("last error", f"{m.last_error}" + (f" (errcode {m.last_errcode})" if m.last_errcode else "")))
    click.echo(f"message {m.id}")
    for name, value in fields:
        click.echo(f"  {name:<11}{value}")
    click.echo("attempts:" if attempts else "attempts: none on record")
    for a in attempts:
        click.echo("  " + _attempt(a))
    click.echo("DingTalk JSON:")
    click.echo(json.dumps(json.loads(m.payload), ensure_ascii=False, indent=2))


@messages.command()
@config_option
@click.argument("message_id", required=False)
@click.option("--status", type=click.Choice(["dead"]), help="Requeue every dead message the filters match.")
@_with_filters
def requeue(config_path: str | None, message_id: str | None, status: str | None, robot: str | None,
            source: str | None, since: float | None) -> None:
    """Put dead messages back in their queue, due now.

    The message ID (for a digest: the dead messages it carried), or with --status dead every dead message matching
    --robot, --source and --since. Their attempts stay on record; the audit log says who requeued what.
    """
    from ..delivery.model import MessageFilter, Status

    filtering = status is not None or robot is not None or source is not None or since is not None
    if message_id is not None and filtering:
        fail("give a message ID or filters (--status dead --robot R ...), not both", 2)
    if message_id is None and status != "dead":
        fail("give a message ID, or --status dead (with --robot, --source or --since to narrow it)", 2)
    actor = f"cli:{_os_user()}"
    with _store(config_path) as store:
        if message_id is not None:
            m = store.get(message_id)
            if m is None:
                fail(f"no message {message_id}")
            if m.status is not Status.DEAD:
                fail(f"message {message_id} is {m.status}: only dead messages can be requeued")
            n = store.requeue(message_id, now=time.time(), actor=actor)
        else:
            n = store.requeue(MessageFilter(status=Status.DEAD, robot=robot, source=source, since=since),
                              now=time.time(), actor=actor)
    click.echo(f"requeued {n} message(s)")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no passwd entry for this uid (a container)
        return f"uid{os.getuid()}"


def _attempt(a: Attempt) -> str:
    parts = [_time(a.started_at), f"{a.outcome:<9}", f"HTTP {a.http_status}" if a.http_status else "no answer"]
    if a.errcode is not None:
        parts.append(f"errcode {a.errcode}")
    if a.duration is not None:
        parts.append(f"{a.duration * 1000:.0f} ms")
    if a.digest_id:
        parts.append(f"in digest {a.digest_id}")
    line = "  ".join(parts)
    if a.error:
        line += f"\n      {a.error}"
    elif a.errmsg and a.errmsg != "ok":
        line += f"\n      {a.errmsg}"
    return line


def _robot(m: StoredMessage) -> str:
    from ..delivery.model import SESSION_ROBOT

    return m.robot or (SESSION_ROBOT if m.target_url or m.queue.startswith("session:") else m.queue)


def _time(ts: float, *, zone: bool = False) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S" + (" %z" if zone else ""))


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    if _width(text) <= width:
        return text
    out: list[str] = []
    for c in text:
        if _width("".join(out)) + _width(c) > width - 1:
            break
        out.append(c)
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
