"""An emulated custom robot (自定义机器人) and its security settings."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from dingrelay.dingtalk.masking import mask_value

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EmulatorRobot:
    """One robot in one group: its webhook token and the 安全设置 the emulator enforces.

    ``secret`` enables 加签, ``keywords`` the custom-keyword check, ``ip_allowlist`` (IPs or CIDR
    ranges) the IP check. ``rate_limit`` accepted messages are allowed per ``rate_window_seconds``.
    """

    name: str
    token: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    keywords: Sequence[str] = ()
    rate_limit: int = 20
    rate_window_seconds: float = 60.0
    ip_allowlist: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("an emulator robot needs a name")
        if not self.token:
            raise ValueError(f"emulator robot {self.name!r} needs an access token")
        if self.rate_limit < 1 or self.rate_window_seconds <= 0:
            raise ValueError(
                f"emulator robot {self.name!r}: rate_limit and rate_window_seconds must be positive"
            )
        object.__setattr__(self, "keywords", tuple(self.keywords or ()))
        if self.ip_allowlist is not None:
            object.__setattr__(self, "ip_allowlist", tuple(self.ip_allowlist))
            self.networks()  # fail early on a malformed entry

    def __repr__(self) -> str:
        return (f"EmulatorRobot(name={self.name!r}, token={mask_value(self.token)!r}, "
                f"signed={self.secret is not None}, keywords={list(self.keywords)!r})")

    def networks(self) -> tuple[IpNetwork, ...]:
        """The allow-list as networks; a bare IP is a one-address network."""
        try:
            return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.ip_allowlist or ())
        except ValueError as exc:
            raise ValueError(f"emulator robot {self.name!r}: bad ip_allowlist entry: {exc}") from None

    def allows_ip(self, ip: str) -> bool:
        """Whether a request from ``ip`` passes the allow-list (always, when there is none)."""
        if self.ip_allowlist is None:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks())
