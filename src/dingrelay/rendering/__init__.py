"""Jinja2 message templates: a sandboxed environment, filters, the built-in ``templates/*.j2`` (overridable by
name from ``templates.dir``), rendering data into a typed DingTalk message (see ``renderer``). It may import the
protocol core ``dingrelay.dingtalk`` and Jinja2, nothing else of ours."""

from .filters import SHANGHAI, cst, duration, md_escape, truncate_bytes
from .renderer import Renderer, RenderError

__all__ = ["SHANGHAI", "RenderError", "Renderer", "cst", "duration", "md_escape", "truncate_bytes"]
