"""Verification of AWS Signature Version 4 on incoming requests.

Only what the AWS SDKs send to a JSON-protocol service is accepted: the `Authorization` header form of
`AWS4-HMAC-SHA256` with `host` and `x-amz-date` signed (query-string presigning is not used by Rekognition
clients). Every failure raises `SignatureError` with the AWS error code an SDK expects, so its error handling
works unchanged; messages follow AWS's wording where SDKs and people recognise it.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "rekognition"
#: how far a request's x-amz-date may be from the server's clock (AWS allows 15 minutes)
MAX_SKEW_S = 900
_AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 +Credential=(?P<cred>[^, ]+), *SignedHeaders=(?P<signed>[a-z0-9;_.-]+), "
                      r"*Signature=(?P<sig>[0-9a-f]{64})$")
_CRED_RE = re.compile(r"^(?P<akid>[A-Za-z0-9]{16,128})/(?P<date>[0-9]{8})/(?P<region>[a-z0-9-]{1,32})/"
                      r"(?P<service>[a-z0-9-]{1,64})/aws4_request$")
_AMZ_DATE_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
_SPACES = re.compile(r" +")


class SignatureError(Exception):
    """A request whose signature cannot be accepted; `code` is the AWS error type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedRequest:
    access_key_id: str
    region: str
    date: str
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(headers: Mapping[str, str]) -> SignedRequest:
    """The parts of the Authorization header (headers keyed in lower case)."""
    header = headers.get("authorization", "")
    if not header:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _AUTH_RE.fullmatch(header.strip())
    if m is None:
        raise SignatureError("IncompleteSignatureException",
                             "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                             f"parameters with algorithm {ALGORITHM}")
    cred = _CRED_RE.fullmatch(m["cred"])
    if cred is None:
        raise SignatureError("IncompleteSignatureException", "the Credential parameter is malformed: expected "
                             "<access key>/<yyyymmdd>/<region>/rekognition/aws4_request")
    if cred["service"] != SERVICE:
        raise SignatureError("InvalidSignatureException",
                             f"Credential should be scoped to correct service: '{SERVICE}'.")
    signed = tuple(m["signed"].split(";"))
    if "host" not in signed or "x-amz-date" not in signed:
        raise SignatureError("InvalidSignatureException", "the host and x-amz-date headers must be signed")
    amz_date = headers.get("x-amz-date", "")
    if not _AMZ_DATE_RE.fullmatch(amz_date):
        raise SignatureError("IncompleteSignatureException", "the X-Amz-Date header is missing or malformed "
                             "(expected yyyymmddThhmmssZ)")
    if not amz_date.startswith(cred["date"]):
        raise SignatureError("InvalidSignatureException", "Credential should be scoped to a valid date matching "
                             "X-Amz-Date.")
    return SignedRequest(cred["akid"], cred["region"], cred["date"], amz_date, signed, m["sig"])


def check_clock(amz_date: str, now: float | None = None, max_skew_s: int = MAX_SKEW_S) -> None:
    """Refuse replays of old requests (and requests from far-off clocks), like AWS."""
    then = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    current = time.time() if now is None else now
    if abs(current - then) > max_skew_s:
        raise SignatureError("InvalidSignatureException",
                             f"Signature expired: {amz_date} is now earlier or later than "
                             f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(current))} "
                             f"(+/- {max_skew_s // 60} min); check the client's clock")


def _canonical_uri(path: str) -> str:
    """As botocore builds it for non-S3 services: the path, percent-encoded except '/' and '~'."""
    return urllib.parse.quote(path or "/", safe="/~")


def _canonical_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                    for k, v in sorted(pairs))


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str], signed: tuple[str, ...],
                      body: bytes) -> str:
    lines = [method.upper(), _canonical_uri(path), _canonical_query(query)]
    for name in signed:
        if name not in headers:
            raise SignatureError("InvalidSignatureException", f"the signed header {name!r} is missing")
        lines.append(f"{name}:{_SPACES.sub(' ', headers[name].strip())}")
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    return "\n".join([*lines[:3], *lines[3:], "", ";".join(signed), payload])


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def expected_signature(req: SignedRequest, secret: str, method: str, path: str, query: str,
                       headers: Mapping[str, str], body: bytes) -> str:
    canonical = canonical_request(method, path, query, headers, req.signed_headers, body)
    scope = f"{req.date}/{req.region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, req.amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(signing_key(secret, req.date, req.region), to_sign.encode(), hashlib.sha256).hexdigest()


def verify(req: SignedRequest, secret: str, method: str, path: str, query: str, headers: Mapping[str, str],
           body: bytes, now: float | None = None) -> None:
    """Raise SignatureError unless `req` is a fresh, correct signature of this request under `secret`."""
    check_clock(req.amz_date, now)
    declared = headers.get("x-amz-content-sha256")
    if declared and declared != hashlib.sha256(body).hexdigest():
        raise SignatureError("InvalidSignatureException", "x-amz-content-sha256 does not match the request body")
    want = expected_signature(req, secret, method, path, query, headers, body)
    if not hmac.compare_digest(want, req.signature):
        raise SignatureError("InvalidSignatureException",
                             "The request signature we calculated does not match the signature you provided. "
                             "Check your AWS Secret Access Key and signing method.")
