"""The Rekognition endpoint without servers: botocore shape checks, error translation, pagination tokens, and
whole requests signed by botocore going through `Endpoint.handle` to a fake ingest."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import grpc
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lineup.identity import sessions
from lineup.v1 import face_search_pb2
from rekognition import model, operations
from rekognition.errors import RekognitionError, from_grpc
from rekognition.server import Endpoint
from rekognition.settings import RekognitionSettings

KEY = "s" * 48


def _shape(op: str) -> Any:
    found = model.operation(op)
    assert found is not None
    return found.input_shape


@pytest.mark.parametrize(("op", "params", "message"), [
    ("DescribeCollection", {}, "CollectionId: is required"),
    ("DescribeCollection", {"CollectionId": "a/b"}, "does not match the pattern"),
    ("IndexFaces", {"CollectionId": "c", "Image": {}, "QualityFilter": "BEST"}, "is not one of"),
    ("SearchFaces", {"CollectionId": "c", "FaceId": "x" * 36}, "does not match the pattern"),
    ("SearchFacesByImage", {"CollectionId": "c", "Image": {"Bytes": "aGk="}, "FaceMatchThreshold": 101},
     "above the maximum"),
    ("DetectFaces", {"Image": {"Bytes": "not base64!"}}, "not valid base64"),
    ("ListFaces", {"CollectionId": "c", "MaxResults": "10"}, "expected an integer"),
])
def test_requests_are_checked_against_botocores_model(op: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(model.ShapeError, match=message):
        model.check(_shape(op), params)


def test_blobs_are_decoded_and_rekognitions_5mb_limit_is_image_too_large() -> None:
    ok = model.check(_shape("DetectFaces"), {"Image": {"Bytes": base64.b64encode(b"abc").decode()}})
    assert ok == {"Image": {"Bytes": b"abc"}}
    big = base64.b64encode(b"x" * (5 * 1024 * 1024 + 1)).decode()
    with pytest.raises(model.ShapeError) as err:
        model.check(_shape("DetectFaces"), {"Image": {"Bytes": big}})
    assert err.value.too_large


def test_every_pattern_of_the_model_compiles() -> None:
    m = model.service_model()
    for name in m.shape_names:
        pattern = m.shape_for(name).metadata.get("pattern")
        if pattern:
            model._pattern(pattern)
    assert model.check(_shape("CreateCollection"), {"CollectionId": "c", "Tags": {"unit 1": "a b"}})


@pytest.mark.parametrize(("code", "details", "kwargs", "expected", "status"), [
    (grpc.StatusCode.NOT_FOUND, "collection 'x' not found", {}, "ResourceNotFoundException", 400),
    (grpc.StatusCode.NOT_FOUND, "image object b/k not found", {"has_s3_object": True}, "InvalidS3ObjectException", 400),
    (grpc.StatusCode.ALREADY_EXISTS, "exists", {}, "ResourceAlreadyExistsException", 400),
    (grpc.StatusCode.PERMISSION_DENIED, "needs enroller", {}, "AccessDeniedException", 403),
    (grpc.StatusCode.FAILED_PRECONDITION, "purpose", {}, "AccessDeniedException", 403),
    (grpc.StatusCode.UNAUTHENTICATED, "session X expired", {}, "ExpiredTokenException", 403),
    (grpc.StatusCode.UNAUTHENTICATED, "session X was revoked", {}, "UnrecognizedClientException", 403),
    (grpc.StatusCode.INVALID_ARGUMENT, "image format not recognised", {}, "InvalidImageFormatException", 400),
    (grpc.StatusCode.INVALID_ARGUMENT, "page_token is not one this API returned", {"has_page_token": True},
     "InvalidPaginationTokenException", 400),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "image decodes to 180 MP", {}, "ImageTooLargeException", 400),
    (grpc.StatusCode.UNAVAILABLE, "retry later", {}, "ThrottlingException", 400),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "no result", {}, "InternalServerError", 500),
    (grpc.StatusCode.INTERNAL, "bug", {}, "InternalServerError", 500),
])
def test_grpc_statuses_become_rekognition_errors(code: grpc.StatusCode, details: str, kwargs: dict[str, bool],
                                                 expected: str, status: int) -> None:
    err = from_grpc(code, details, **kwargs)
    assert (err.code, err.status) == (expected, status)


def _ctx(call: Any = None) -> operations.Context:
    return operations.Context(call=call, agency_id="agency-a", region="eu-west-1", page_key=b"k" * 32)


def test_page_tokens_are_bound_to_agency_operation_and_collection() -> None:
    token = operations._wrap_token(_ctx(), "ListFaces", "c1", "lineup-token-7")
    assert token is not None and len(token) <= 255
    assert operations._unwrap_token(_ctx(), "ListFaces", "c1", {"NextToken": token}) == "lineup-token-7"
    for op, cid in (("ListUsers", "c1"), ("ListFaces", "c2")):
        with pytest.raises(RekognitionError) as err:
            operations._unwrap_token(_ctx(), op, cid, {"NextToken": token})
        assert err.value.code == "InvalidPaginationTokenException"
    other = operations.Context(call=None, agency_id="agency-b", region="r", page_key=b"k" * 32)
    with pytest.raises(RekognitionError):
        operations._unwrap_token(other, "ListFaces", "c1", {"NextToken": token})


def test_image_ids_are_uuid_shaped_and_model_versions_numeric() -> None:
    assert operations.image_uuid("ab" * 32) == "abababab-abab-abab-abab-abababababab"
    assert operations.model_number("face_embedder/1") == "1"


class FakeIngest:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, str]] = []

    def bind(self, session_id: str, request_ids: list[str], *, s3: bool, paged: bool) -> operations.Call:
        def call(method: str, request: Any, key: str) -> Any:
            self.calls.append((session_id, method, request, key))
            request_ids.append("f" * 32)
            return face_search_pb2.ListCollectionsResponse(collections=[
                face_search_pb2.CollectionSummary(collection_id="mine", face_model_version="face_embedder/1"),
                face_search_pb2.CollectionSummary(collection_id="other/theirs", granted=True)])
        return call


def _endpoint() -> tuple[Endpoint, FakeIngest]:
    fake = FakeIngest()
    settings = RekognitionSettings(session_signing_key=KEY, internal_token="t" * 48)
    return Endpoint(settings, fake), fake  # type: ignore[arg-type]


def _request(target: str, body: dict[str, Any], *, exp: int | None = None, secret: str | None = None
             ) -> tuple[str, str, str, dict[str, str], bytes]:
    sid = "LSES0123456789ABCDEF"
    token = sessions.make_token(KEY, sid, "agency-a", exp or int(time.time()) + 600)
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url="http://rek.local/", data=data,
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    SigV4Auth(Credentials(sid, secret or sessions.derive_secret(KEY, sid), token), "rekognition",
              "eu-west-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = "rek.local"
    return "POST", "/", "", headers, data


def test_a_signed_call_reaches_ingest_under_its_session_and_answers_the_output_shape() -> None:
    endpoint, fake = _endpoint()
    status, body, ids = endpoint.handle(*_request("RekognitionService.ListCollections", {"MaxResults": 5}))
    assert status == 200 and ids == ["f" * 32]
    assert body == {"CollectionIds": ["mine"], "FaceModelVersions": ["face_embedder/1"]}
    op = model.operation("ListCollections")
    assert op is not None
    model.check(op.output_shape, body, decode_blobs=False)
    assert [(c[0], c[1]) for c in fake.calls] == [("LSES0123456789ABCDEF", "ListCollections")]


@pytest.mark.parametrize(("target", "kwargs", "expected"), [
    ("RekognitionService.DetectLabels", {}, "AccessDeniedException"),
    ("RekognitionService.NoSuchThing", {}, "UnknownOperationException"),
    ("Other.ListCollections", {}, "UnknownOperationException"),
    ("RekognitionService.ListCollections", {"exp": 1_000}, "ExpiredTokenException"),
    ("RekognitionService.ListCollections", {"secret": "W" * 40}, "InvalidSignatureException"),
])
def test_refusals_never_reach_ingest(target: str, kwargs: dict[str, Any], expected: str) -> None:
    endpoint, fake = _endpoint()
    status, body, _ = endpoint.handle(*_request(target, {}, **kwargs))
    assert body["__type"] == expected and status >= 400 and body["message"]
    assert fake.calls == []


def test_malformed_json_and_missing_signature() -> None:
    endpoint, fake = _endpoint()
    method, path, query, headers, _ = _request("RekognitionService.ListCollections", {})
    status, body, _ = endpoint.handle(method, path, query, headers, b"{not json")
    assert body["__type"] == "InvalidSignatureException"  # the signature covers the body: checked first
    del headers["authorization"]
    status, body, _ = endpoint.handle(method, path, query, headers, b"{}")
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    assert fake.calls == []
