"""加签 against the test vectors of PROTOCOL.md §5."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest

from dingrelay.dingtalk import signing
from dingrelay.dingtalk.signing import SignatureCheckFailed

SECRET = "SEC0123456789abcdef"
TS = 1_700_000_000_000
HOUR_MS = 3_600_000

VECTORS = [
    pytest.param(TS, "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=",
                 "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D", id="ts-000-slash"),
    pytest.param(TS + 1, "h9I8htdbvJCasKF0f8Gu+a2Cr5fjl9T+pzb6hx3n+pE=",
                 "h9I8htdbvJCasKF0f8Gu%2Ba2Cr5fjl9T%2Bpzb6hx3n%2BpE%3D", id="ts-001-plus"),
]


@pytest.mark.parametrize(("timestamp", "raw", "encoded"), VECTORS)
def test_sign_matches_the_documented_raw_base64(timestamp: int, raw: str, encoded: str) -> None:
    assert signing.sign(SECRET, timestamp) == raw
    assert signing.sign(SECRET, str(timestamp)) == raw


@pytest.mark.parametrize(("timestamp", "raw", "encoded"), VECTORS)
def test_encoded_sign_is_the_documented_query_form(timestamp: int, raw: str, encoded: str) -> None:
    assert signing.encoded_sign(SECRET, timestamp) == encoded
    assert quote_plus(raw) == encoded


@pytest.mark.parametrize(("timestamp", "raw", "encoded"), VECTORS)
def test_sign_query_hands_the_raw_sign_to_the_query_encoder(timestamp: int, raw: str, encoded: str) -> None:
    assert signing.sign_query(SECRET, timestamp) == {"timestamp": str(timestamp), "sign": raw}


def test_sign_is_base64_of_the_documented_hmac() -> None:
    hmac_hex = "4d265b44552ebda490691294a45f7bd0e3c26f6fcb71000fdf03afc192330599"
    assert signing.sign(SECRET, TS) == base64.b64encode(bytes.fromhex(hmac_hex)).decode()


def test_callback_header_vector_signs_with_the_app_secret() -> None:
    assert signing.sign("appSecretForTest", TS) == "reRiqqh0SLWRSW6tPAHDLIJSj+6oMuE1haIV/o6Fd5Q="
    signing.verify("appSecretForTest", str(TS), "reRiqqh0SLWRSW6tPAHDLIJSj+6oMuE1haIV/o6Fd5Q=", now=TS)


@pytest.mark.parametrize(("timestamp", "raw", "encoded"), VECTORS)
def test_verify_accepts_the_documented_signatures(timestamp: int, raw: str, encoded: str) -> None:
    signing.verify(SECRET, str(timestamp), raw, now=timestamp)


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param("mXX0uITzTNLzJfLOaa7fh9ReAQ+XMRiJS9srQxLlSDM=", id="literal-backslash-n"),
        pytest.param("dnsu25fgtKaZF3LVi3oY15MSW/wnmYxDixFIAj6ldj4=", id="seconds-timestamp"),
        pytest.param("TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D", id="url-encoded-in-header"),
        pytest.param("TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk", id="padding-dropped"),
    ],
)
def test_verify_rejects_the_documented_wrong_variants_as_mismatch(wrong: str) -> None:
    with pytest.raises(SignatureCheckFailed) as caught:
        signing.verify(SECRET, str(TS), wrong, now=TS)
    assert caught.value.reason == "mismatch"


def test_verify_rejects_a_seconds_timestamp_as_stale() -> None:
    seconds_sign = "dnsu25fgtKaZF3LVi3oY15MSW/wnmYxDixFIAj6ldj4="
    assert signing.sign(SECRET, 1_700_000_000) == seconds_sign
    with pytest.raises(SignatureCheckFailed) as caught:
        signing.verify(SECRET, "1700000000", seconds_sign, now=TS)
    assert caught.value.reason == "stale"


@pytest.mark.parametrize(
    ("offset_ms", "accepted"),
    [
        pytest.param(0, True, id="now"),
        pytest.param(HOUR_MS, True, id="exactly-1h-old"),
        pytest.param(-HOUR_MS, True, id="exactly-1h-ahead"),
        pytest.param(HOUR_MS + 1, False, id="1h-and-1ms-old"),
        pytest.param(-HOUR_MS - 1, False, id="1h-and-1ms-ahead"),
        pytest.param(2 * HOUR_MS, False, id="2h-old"),
    ],
)
def test_verify_allows_one_hour_of_skew_either_way(offset_ms: int, accepted: bool) -> None:
    ts = TS - offset_ms
    good = signing.sign(SECRET, ts)
    if accepted:
        signing.verify(SECRET, str(ts), good, now=TS)
    else:
        with pytest.raises(SignatureCheckFailed) as caught:
            signing.verify(SECRET, str(ts), good, now=TS)
        assert caught.value.reason == "stale"
        assert "3600s" in str(caught.value)


@pytest.mark.parametrize(
    ("timestamp", "sign"),
    [(None, "x"), ("", "x"), (str(TS), None), (str(TS), ""), (None, None)],
)
def test_verify_requires_both_timestamp_and_sign(timestamp: str | None, sign: str | None) -> None:
    with pytest.raises(SignatureCheckFailed) as caught:
        signing.verify(SECRET, timestamp, sign, now=TS)
    assert caught.value.reason == "missing"


def test_verify_rejects_a_non_numeric_timestamp() -> None:
    with pytest.raises(SignatureCheckFailed) as caught:
        signing.verify(SECRET, "yesterday", "x", now=TS)
    assert "milliseconds" in str(caught.value)


def test_verify_rejects_a_signature_made_with_another_secret() -> None:
    with pytest.raises(SignatureCheckFailed) as caught:
        signing.verify(SECRET, str(TS), signing.sign("SECsomeoneelse", TS), now=TS)
    assert caught.value.reason == "mismatch"


def test_verification_failures_never_print_the_secret() -> None:
    with pytest.raises(SignatureCheckFailed) as caught:
        signing.verify(SECRET, str(TS), "forged", now=TS)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    ("seconds", "millis"),
    [
        (1_700_000_000.0, 1_700_000_000_000),
        (1_700_000_000.001, 1_700_000_000_001),
        (1_700_000_060.5, 1_700_000_060_500),
    ],
)
def test_now_ms_turns_the_clock_into_13_digit_milliseconds(seconds: float, millis: int) -> None:
    assert signing.now_ms(lambda: seconds) == millis
    assert len(str(signing.now_ms(lambda: seconds))) == 13
