"""dingrelay: a self-hosted DingTalk robot gateway."""

__version__ = "0.1.0"
