"""The HTTP API. Flask lives here and nowhere else."""

from .app import create_app

__all__ = ["create_app"]
