"""Schemathesis fuzzes the running gateway from its own ``/openapi.json``, on SQLite and PostgreSQL.

Whatever it sends, the gateway answers without a 5xx, every error is our JSON error, and every response matches
the document. The cases are generated from the document the gateway serves over HTTP, and sent over HTTP.
"""

from __future__ import annotations

import pytest
import schemathesis
from gateway_harness import InProcessGateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from dingrelay.web.openapi import PATHS

TOKEN = "heian-token"   # the source token in conftest.py
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: (operation, mode) for every operation but the document itself (schemathesis does not fuzz the schema it loads);
#: negative cases only where the operation takes input.
CASES = [pytest.param(f"{method.upper()} {path}", mode, id=f"{method.upper()} {path}-{mode}")
         for path, ops in PATHS.items() if path != "/openapi.json" for method, spec in ops.items()
         for mode in GenerationMode
         if mode is GenerationMode.POSITIVE or "parameters" in spec or "requestBody" in spec]
#: Examples per operation: enough to hit every branch of the door checks, bounded for a 2-core CI run.
EXAMPLES = 40


def _is_our_error(case: Case, body: object) -> bool:
    if case.path == "/robot/send":   # DingTalk's own answer shape, by design
        return isinstance(body, dict) and isinstance(body.get("errcode"), int)
    return (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict)
            and {"code", "message", "field"} <= set(body["error"]))


@pytest.mark.slow
@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_no_5xx_every_error_is_json_and_responses_conform(gateway: InProcessGateway, operation: str,
                                                         mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    [op] = [r.ok() for r in schema.get_all_operations() if r.ok().label == operation]

    @given(case=op.as_strategy(mode), authorised=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Case, authorised: bool) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"} if authorised else None
        response = case.call(base_url=gateway.url, headers=headers)
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            assert _is_our_error(case, response.json()), response.text

    fuzz()
