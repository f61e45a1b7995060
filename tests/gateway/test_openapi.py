"""``/openapi.json`` describes the API that is really served: every route, every method, and nothing more."""

from __future__ import annotations

import re

import pytest
from gateway_harness import InProcessGateway

SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _served(gateway: InProcessGateway) -> set[tuple[str, str]]:
    out = set()
    for rule in gateway.app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule == "/ui" or rule.rule.startswith(("/ui/", "/silence/")):
            continue  # the dashboard's and the silence links' HTML pages are not the JSON API
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        out |= {(path, m.lower()) for m in rule.methods or () if m not in SKIPPED_METHODS}
    return out


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_document_lists_exactly_the_routes_the_app_serves(gateway: InProcessGateway) -> None:
    r = gateway.http.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert described == _served(gateway)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_every_reference_in_the_document_resolves(gateway: InProcessGateway) -> None:
    doc = gateway.http.get("/openapi.json").json()
    text = gateway.http.get("/openapi.json").text
    for ref in set(re.findall(r'"\$ref":\s*"#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            assert part in node, f"#/{ref} does not resolve"
            node = node[part]
