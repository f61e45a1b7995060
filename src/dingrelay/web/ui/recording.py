"""What the hooks received, kept for the template page: one call from ``dingrelay.web.hooks`` once a body is
parsed and its sender authenticated (masking, pruning and the one-a-second limit: :mod:`dingrelay.dashboard.samples`).
A no-op when the app has no dashboard."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .site import UI


def record_hook_sample(hook: str, source: str, body: Any) -> None:
    ui: UI | None = current_app.extensions.get("dingrelay.ui")
    if ui is not None:
        ui.recorder.record(hook, source, body)
