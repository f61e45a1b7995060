"""Jinja2 message templates: built-in ``templates/*.j2``, overridable by name from ``templates.dir``.

::

    renderer = Renderer(settings.templates.dir)
    message = renderer.render("error", {"title": "磁盘", "content": "/data 95%"})   # a dingtalk Message
"""

from .filters import SHANGHAI, cst, duration, md_escape, truncate_bytes
from .renderer import Renderer, RenderError

__all__ = ["SHANGHAI", "RenderError", "Renderer", "cst", "duration", "md_escape", "truncate_bytes"]
