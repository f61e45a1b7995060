"""``/ui/templates``: choose a template and a sample, see what the gateway would send.

Samples: the built-in ones (the tutorial body, an Alertmanager group, a Grafana alert, Zabbix, GitLab and Jenkins
events) and the payloads the hooks really received (the newest 20 per hook and source, masked). For each card: the
DingTalk JSON, its size against 20,000 bytes, each robot's keyword check, and the message as DingTalk shows it. A
GET form: nothing changes, so no CSRF token; nothing is stored or sent.
"""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from ...dashboard.markup import message_html
from ...dashboard.preview import preview
from ...dashboard.samples import BUILTIN, Sample, received
from .site import bp, page, safe, state


def _sample(key: str) -> Sample | None:
    for s in BUILTIN:
        if s.key == key:
            return s
    kind, _, ident = key.partition(":")
    if kind == "received" and ident.isdigit():
        found = state().dashboard.sample(int(ident))
        return received(found) if found is not None else None
    return None


@bp.get("/templates")
def templates() -> ResponseReturnValue:
    ui = state()
    names = ui.gateway.renderer.names()
    kept = ui.dashboard.samples()
    key = request.args.get("sample", "") or BUILTIN[0].key
    sample = _sample(key)
    problem = None if sample is not None else f"没有这个样例（{key}）：它可能已被更新的样例替换。"
    template = request.args.get("template", "")
    result = None
    if sample is not None:
        template = template if template in names else sample.template if sample.template in names else names[0]
        result = preview(ui.gateway, template, sample, now=ui.now())
    cards = [(card, safe(message_html(card.payload))) for card in result.cards] if result else []
    return page("templates.html", names=names, builtin=BUILTIN, kept=kept, chosen_sample=key,
                chosen_template=template, sample=sample, result=result, cards=cards, problem=problem)
