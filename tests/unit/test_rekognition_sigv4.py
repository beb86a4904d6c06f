"""SigV4 verification of the Rekognition endpoint against requests signed by botocore itself (not by us)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lineup.identity import sessions
from rekognition import sigv4

KEY = "k" * 40


def _signed(secret: str, body: bytes, *, akid: str = "LSES0123456789ABCDEF", token: str | None = "tok",
            region: str = "eu-west-1", service: str = "rekognition") -> tuple[dict[str, str], bytes]:
    req = AWSRequest(method="POST", url="http://127.0.0.1:50057/", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "RekognitionService.ListCollections"})
    SigV4Auth(Credentials(akid, secret, token), service, region).add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = "127.0.0.1:50057"
    return headers, body


def _verify(headers: dict[str, str], body: bytes, secret: str, now: float | None = None) -> None:
    signed = sigv4.parse_authorization(headers)
    sigv4.verify(signed, secret, "POST", "/", "", headers, body, now=now)


def test_a_botocore_signature_verifies() -> None:
    headers, body = _signed("s3cr3t", b'{"MaxResults": 5}')
    _verify(headers, body, "s3cr3t")


@pytest.mark.parametrize("tamper", ["body", "target", "secret", "signature"])
def test_any_change_is_an_invalid_signature(tamper: str) -> None:
    headers, body = _signed("s3cr3t", b'{"MaxResults": 5}')
    secret = "s3cr3t"
    if tamper == "body":
        body = b'{"MaxResults": 6}'
    elif tamper == "target":
        headers["x-amz-target"] = "RekognitionService.DeleteCollection"
    elif tamper == "secret":
        secret = "other"
    else:
        headers["authorization"] = headers["authorization"][:-4] + "0000"
    with pytest.raises(sigv4.SignatureError) as err:
        _verify(headers, body, secret)
    assert err.value.code == "InvalidSignatureException"


def test_an_old_request_is_refused_as_expired_signature() -> None:
    headers, body = _signed("s3cr3t", b"{}")
    with pytest.raises(sigv4.SignatureError, match="Signature expired"):
        _verify(headers, body, "s3cr3t", now=time.time() + 3600)


def test_missing_or_malformed_authorization() -> None:
    with pytest.raises(sigv4.SignatureError) as err:
        sigv4.parse_authorization({})
    assert err.value.code == "MissingAuthenticationTokenException"
    with pytest.raises(sigv4.SignatureError) as err:
        sigv4.parse_authorization({"authorization": "Bearer lk_x"})
    assert err.value.code == "IncompleteSignatureException"


def test_a_signature_for_another_service_is_refused() -> None:
    headers, _ = _signed("s3cr3t", b"{}", service="s3")
    with pytest.raises(sigv4.SignatureError, match="correct service"):
        sigv4.parse_authorization(headers)


def test_session_secret_is_derived_and_the_token_is_tamper_evident() -> None:
    sid = sessions.new_session_id()
    assert sessions.SESSION_ID_RE.match(sid)
    secret = sessions.derive_secret(KEY, sid)
    assert secret == sessions.derive_secret(KEY, sid) and len(secret) == 40
    assert secret != sessions.derive_secret("x" * 40, sid)
    token = sessions.make_token(KEY, sid, "agency-a", 2_000_000_000)
    parsed = sessions.parse_token(KEY, token)
    assert parsed == sessions.SessionToken(sid, "agency-a", 2_000_000_000)
    assert sessions.parse_token(KEY, token.replace("2000000000", "2000000001")) is None
    assert sessions.parse_token(KEY, token.replace("agency-a", "agency-b")) is None
    assert sessions.parse_token("y" * 40, token) is None
    assert sessions.parse_token(KEY, json.dumps(token)) is None
