"""Injected failures: DingTalk being busy, a proxy answering 5xx, a dropped connection, a slow answer."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

FAULT_KINDS = frozenset({"errcode", "http_status", "drop", "latency"})


@dataclass(frozen=True)
class Fault:
    """A failure applied to the next ``count`` matching requests (``None``: until cleared).

    - ``errcode``: answer HTTP 200 ``{"errcode": errcode, "errmsg": errmsg}`` (default -1 系统繁忙).
    - ``http_status``: answer ``status`` with a small non-JSON ``body``.
    - ``drop``: close the TCP connection without any response.
    - ``latency``: wait ``latency_seconds``, then process the request normally.

    ``robot`` restricts the fault to one robot name (or ``"session:<id>"``); ``None`` matches all.
    A request hit by an errcode, http_status or drop fault is not recorded as received and does not
    count toward the rate window.
    """

    kind: str
    errcode: int = -1
    errmsg: str = "系统繁忙"
    status: int = 503
    body: str | None = None
    latency_seconds: float = 0.0
    robot: str | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}, not {self.kind!r}")
        if self.count is not None and self.count < 1:
            raise ValueError("fault count must be at least 1 (or None for until cleared)")
        if not (100 <= self.status <= 599):
            raise ValueError(f"fault status must be an HTTP status code, not {self.status}")
        if not math.isfinite(self.latency_seconds) or self.latency_seconds < 0:
            raise ValueError("fault latency_seconds must be a non-negative number")

    @property
    def terminal(self) -> bool:
        """Whether the fault replaces the normal answer (everything but latency)."""
        return self.kind != "latency"

    def response_body(self) -> str:
        if self.body is not None:
            return self.body
        return f"<html><body>{self.status} fault injected</body></html>"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """Build a fault from control-endpoint JSON; raise ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        checks: dict[str, tuple[type, ...]] = {
            "kind": (str,), "errcode": (int,), "errmsg": (str,), "status": (int,), "body": (str, type(None)),
            "latency_seconds": (int, float), "robot": (str, type(None)), "count": (int, type(None)),
        }
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, checks[key]):
                raise ValueError(f"fault field {key!r} has the wrong type")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        return cls(**data)


@dataclass(frozen=True)
class FaultPlan:
    """What the faults say to do with one request: wait, then maybe fail instead of answering."""

    latency_seconds: float = 0.0
    failure: Fault | None = None


class FaultBook:
    """The injected faults, consumed in injection order. Not thread-safe on its own."""

    def __init__(self) -> None:
        self._faults: list[list[Any]] = []  # [fault, remaining count or None]

    def inject(self, fault: Fault) -> None:
        self._faults.append([fault, fault.count])

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[Fault]:
        return [fault for fault, _ in self._faults]

    def take(self, label: str | None) -> FaultPlan:
        """Consume the faults that match a request to robot ``label``: all latencies, the first failure."""
        latency = 0.0
        failure: Fault | None = None
        for entry in self._faults:
            fault, remaining = entry
            if fault.robot is not None and fault.robot != label:
                continue
            if fault.terminal:
                if failure is not None:
                    continue
                failure = fault
            else:
                latency += fault.latency_seconds
            if remaining is not None:
                entry[1] = remaining - 1
        self._faults = [entry for entry in self._faults if entry[1] is None or entry[1] > 0]
        return FaultPlan(latency, failure)
