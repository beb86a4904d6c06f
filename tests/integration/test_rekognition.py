"""The Rekognition-compatible endpoint, driven by clients the project did not write: boto3 and the AWS CLI.

Every supported operation, its errors, pagination, S3Object images, signature failures, expiry, revocation and
tenancy, on the real stack through the public front door. Every response body is checked against botocore's
output shape for its operation (the raw JSON, captured before boto3 parses it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from lineup_tools.devstack.accounts import session_signing_key
from lineup_tools.devstack.minio import credentials

from lineup.identity import sessions
from lineup.objectstore import ObjectStore
from lineup.v1 import (
    admin_pb2,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    face_search_pb2,
    face_search_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from rekognition import model
from rekognition.operations import similarity_of_fmr
from tests.face_data import DATASETS
from tests.integration.pipeline_harness import Pipeline

pytestmark = pytest.mark.integration

TV = DATASETS / "tv-identities"
CASE = "CASE-REK-1"
PURPOSE = "investigation"
R = admin_pb2


def _photo(name: str, i: int) -> bytes:
    return sorted((TV / name).glob("*.png"))[i].read_bytes()


class ShapeChecker:
    """Checks every raw response body against botocore's output (or error) shape before boto3 parses it."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.checked = 0

    def __call__(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        body = json.loads(response_dict["body"] or b"{}")
        self.checked += 1
        if response_dict["status_code"] >= 300:
            if set(body) != {"__type", "message"} or not body["message"]:
                self.errors.append(f"{operation_model.name}: error body {body}")
            return
        try:
            model.check(operation_model.output_shape, body, decode_blobs=False)
        except model.ShapeError as exc:
            self.errors.append(f"{operation_model.name}: {exc}")


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def channel(pipeline: Pipeline) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 32 << 20)]) as ch:
        yield ch


def start_session(channel: grpc.Channel, pipeline: Pipeline, *, agency: str | None = None, user: str = "rek-user",
                  roles: tuple[int, ...] = (R.ROLE_ADMIN, R.ROLE_ENROLLER, R.ROLE_SEARCHER), case: str = CASE,
                  purpose: str = PURPOSE, ttl: int = 3600) -> session_pb2.CreateSessionResponse:
    stub = session_pb2_grpc.SessionsStub(channel)
    return stub.CreateSession(session_pb2.CreateSessionRequest(
        context=common_pb2.SearchContext(case_id=case, purpose=purpose, justification="rekognition migration"),
        ttl_seconds=ttl), metadata=pipeline.metadata(user, agency, roles), timeout=30)


@pytest.fixture(scope="module")
def checker() -> ShapeChecker:
    return ShapeChecker()


def make_client(pipeline: Pipeline, creds: session_pb2.CreateSessionResponse, checker: ShapeChecker, *,
                secret: str | None = None, token: str | None = None, validate: bool = True) -> Any:
    client = boto3.client(
        "rekognition", endpoint_url=pipeline.rekognition_url, region_name="eu-west-1",
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=secret or creds.secret_access_key,
        aws_session_token=token or creds.session_token,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=validate,
                      read_timeout=180, connect_timeout=10))
    client.meta.events.register("before-parse.rekognition.*", checker)
    return client


@pytest.fixture(scope="module")
def session(channel: grpc.Channel, pipeline: Pipeline) -> session_pb2.CreateSessionResponse:
    return start_session(channel, pipeline)


@pytest.fixture(scope="module")
def rek(pipeline: Pipeline, session: session_pb2.CreateSessionResponse, checker: ShapeChecker) -> Any:
    return make_client(pipeline, session, checker)


@pytest.fixture(scope="module")
def raw(pipeline: Pipeline, session: session_pb2.CreateSessionResponse, checker: ShapeChecker) -> Any:
    """A client that sends what it is given (no client-side validation), to see the server's own checks."""
    return make_client(pipeline, session, checker, validate=False)


@pytest.fixture(autouse=True)
def _responses_match_botocore(checker: ShapeChecker) -> Iterator[None]:
    before = len(checker.errors)
    yield
    assert checker.errors[before:] == []


def aws_error(fn: Callable[[], Any]) -> tuple[str, str, int]:
    try:
        fn()
    except ClientError as exc:
        err = exc.response["Error"]
        return err["Code"], err["Message"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")


def _eventually(fn: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 90.0) -> Any:
    """Poll until `fn()` is the exact state the test then asserts, or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


@pytest.fixture(scope="module")
def gallery(rek: Any, pipeline: Pipeline) -> dict[str, Any]:
    """A collection with two faces each of amy and sheldon (one amy photo enrolled from MinIO via S3Object)."""
    rek.create_collection(CollectionId="gallery", Tags={"unit": "rek"})
    store = ObjectStore("127.0.0.1:9000", *credentials())
    key = f"{pipeline.agency}/images/uploads/amy-0.png"
    store.put("lineup-images", key, _photo("amy", 0), "image/png")
    faces: dict[str, list[str]] = {"amy": [], "sheldon": []}
    r = rek.index_faces(CollectionId="gallery", Image={"S3Object": {"Bucket": "lineup-images", "Name": key}},
                        ExternalImageId="amy-0", MaxFaces=1, QualityFilter="NONE", DetectionAttributes=["ALL"])
    faces["amy"] += [f["Face"]["FaceId"] for f in r["FaceRecords"]]
    for name, i in (("amy", 1), ("sheldon", 0), ("sheldon", 1)):
        r = rek.index_faces(CollectionId="gallery", Image={"Bytes": _photo(name, i)}, ExternalImageId=f"{name}-{i}",
                            MaxFaces=1, QualityFilter="NONE")
        faces[name] += [f["Face"]["FaceId"] for f in r["FaceRecords"]]
    assert [len(v) for v in faces.values()] == [2, 2]
    return {"faces": faces, "s3_key": key}


# ------------------------------------------------------------------------------------------ operations
def test_collections_create_describe_list_paginate_delete(rek: Any) -> None:
    for cid in ("pages-a", "pages-b", "pages-c"):
        created = rek.create_collection(CollectionId=cid)
        assert created["StatusCode"] == 200 and created["CollectionArn"].endswith(f":collection/{cid}")
    code, msg, status = aws_error(lambda: rek.create_collection(CollectionId="pages-a"))
    assert (code, status) == ("ResourceAlreadyExistsException", 400) and "already exists" in msg
    described = rek.describe_collection(CollectionId="pages-a")
    assert described["FaceCount"] == 0 and described["UserCount"] == 0 and described["FaceModelVersion"]
    seen: list[str] = []
    for page in rek.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 1}):
        assert len(page["CollectionIds"]) <= 1
        seen += page["CollectionIds"]
    assert {"pages-a", "pages-b", "pages-c"} <= set(seen) and len(seen) == len(set(seen))
    for cid in ("pages-a", "pages-b", "pages-c"):
        assert rek.delete_collection(CollectionId=cid)["StatusCode"] == 200
    code, msg, _ = aws_error(lambda: rek.describe_collection(CollectionId="pages-a"))
    assert code == "ResourceNotFoundException" and "not found" in msg


def test_index_list_search_compare_detect(rek: Any, gallery: dict[str, Any]) -> None:
    amy, sheldon = gallery["faces"]["amy"], gallery["faces"]["sheldon"]
    listed = [f for page in rek.get_paginator("list_faces").paginate(
        CollectionId="gallery", PaginationConfig={"PageSize": 1}) for f in page["Faces"]]
    assert sorted(f["FaceId"] for f in listed) == sorted(amy + sheldon)
    assert {f["ExternalImageId"] for f in listed} == {"amy-0", "amy-1", "sheldon-0", "sheldon-1"}

    found = rek.search_faces(CollectionId="gallery", FaceId=amy[0], FaceMatchThreshold=0, MaxFaces=10)
    assert found["SearchedFaceId"] == amy[0]
    assert found["FaceMatches"] and found["FaceMatches"][0]["Face"]["FaceId"] == amy[1]

    probe = rek.search_faces_by_image(CollectionId="gallery", Image={"Bytes": _photo("amy", 2)},
                                      FaceMatchThreshold=0, MaxFaces=4)
    assert probe["FaceMatches"][0]["Face"]["FaceId"] in amy and probe["SearchedFaceBoundingBox"]["Width"] > 0

    compared = rek.compare_faces(SourceImage={"Bytes": _photo("sheldon", 2)},
                                 TargetImage={"Bytes": _photo("sheldon", 3)}, SimilarityThreshold=0)
    assert len(compared["FaceMatches"]) == 1 and compared["SourceImageFace"]["Confidence"] > 0

    detected = rek.detect_faces(Image={"Bytes": _photo("penny", 0)}, Attributes=["ALL"])
    assert len(detected["FaceDetails"]) == 1
    detail = detected["FaceDetails"][0]
    assert set(detail) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}  # never age/gender/emotion
    assert {lm["Type"] for lm in detail["Landmarks"]} == {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"}


def test_default_threshold_is_80_and_the_agency_floor_wins(rek: Any, pipeline: Pipeline, channel: grpc.Channel,
                                                           gallery: dict[str, Any]) -> None:
    native = face_search_pb2_grpc.FaceSearchStub(channel).SearchFacesByImage(
        face_search_pb2.SearchFacesByImageRequest(
            collection_id="gallery", image=common_pb2.Image(bytes=_photo("amy", 2)), largest_face_only=True,
            threshold=common_pb2.Threshold(min_similarity=0),
            context=common_pb2.SearchContext(case_id=CASE, purpose=PURPOSE)), metadata=pipeline.metadata(), timeout=180)
    floor_fmr = native.provenance.threshold_applied.estimated_fmr
    assert 0 < floor_fmr <= 1.01e-3  # the agency's floor (FMR 1e-3), not the 0 asked for
    floor = similarity_of_fmr(floor_fmr)  # 70 on the endpoint's model-independent scale
    low = rek.search_faces_by_image(CollectionId="gallery", Image={"Bytes": _photo("amy", 2)}, FaceMatchThreshold=0)
    assert low["FaceMatches"] and all(m["Similarity"] >= floor - 1e-3 for m in low["FaceMatches"])
    assert [m["Face"]["FaceId"] for m in low["FaceMatches"]] == [m.face.face_id for m in native.results[0].face_matches]
    default = rek.search_faces_by_image(CollectionId="gallery", Image={"Bytes": _photo("amy", 2)})
    assert default["FaceMatches"], "the default 80 (estimated FMR 1e-4) finds the same person"
    assert all(m["Similarity"] >= max(80.0, floor) - 1e-3 for m in default["FaceMatches"])
    assert {m["Face"]["FaceId"] for m in default["FaceMatches"]} <= set(gallery["faces"]["amy"])


def test_users_create_associate_search_disassociate_delete(rek: Any, gallery: dict[str, Any]) -> None:
    amy, sheldon = gallery["faces"]["amy"], gallery["faces"]["sheldon"]
    rek.create_user(CollectionId="gallery", UserId="u-amy", ClientRequestToken="tok-create-amy")
    rek.create_user(CollectionId="gallery", UserId="u-sheldon")
    users = [u for page in rek.get_paginator("list_users").paginate(
        CollectionId="gallery", PaginationConfig={"PageSize": 1}) for u in page["Users"]]
    assert sorted(u["UserId"] for u in users) == ["u-amy", "u-sheldon"]
    assoc = rek.associate_faces(CollectionId="gallery", UserId="u-amy", FaceIds=amy, UserMatchThreshold=0)
    assert sorted(f["FaceId"] for f in assoc["AssociatedFaces"]) == sorted(amy)
    rek.associate_faces(CollectionId="gallery", UserId="u-sheldon", FaceIds=sheldon, UserMatchThreshold=0)
    again = rek.associate_faces(CollectionId="gallery", UserId="u-sheldon", FaceIds=[amy[0]], UserMatchThreshold=0)
    assert again["AssociatedFaces"] == [] and again["UnsuccessfulFaceAssociations"][0]["FaceId"] == amy[0]

    by_face = rek.search_users(CollectionId="gallery", FaceId=amy[0], UserMatchThreshold=0)
    assert by_face["SearchedFace"] == {"FaceId": amy[0]} and by_face["UserMatches"][0]["User"]["UserId"] == "u-amy"
    by_user = rek.search_users(CollectionId="gallery", UserId="u-sheldon", UserMatchThreshold=0)
    assert by_user["SearchedUser"] == {"UserId": "u-sheldon"}
    by_image = rek.search_users_by_image(CollectionId="gallery", Image={"Bytes": _photo("sheldon", 2)},
                                         UserMatchThreshold=0)
    assert by_image["UserMatches"][0]["User"]["UserId"] == "u-sheldon" and by_image["SearchedFace"]["FaceDetail"]

    dis = rek.disassociate_faces(CollectionId="gallery", UserId="u-amy", FaceIds=[amy[1]])
    assert dis["DisassociatedFaces"] == [{"FaceId": amy[1]}]
    rek.delete_user(CollectionId="gallery", UserId="u-amy", ClientRequestToken="tok-delete-amy")
    remaining = rek.list_users(CollectionId="gallery")["Users"]
    assert [u["UserId"] for u in remaining] == ["u-sheldon"]
    assert {f["FaceId"] for f in rek.list_faces(CollectionId="gallery")["Faces"]} >= set(amy)  # faces are kept


def test_delete_faces_reports_missing_ones(rek: Any, pipeline: Pipeline) -> None:
    rek.create_collection(CollectionId="deletions")
    face = rek.index_faces(CollectionId="deletions", Image={"Bytes": _photo("raj", 0)}, MaxFaces=1,
                           QualityFilter="NONE")["FaceRecords"][0]["Face"]["FaceId"]
    missing = "00000000-0000-4000-8000-000000000000"
    out = rek.delete_faces(CollectionId="deletions", FaceIds=[face, missing])
    assert out["DeletedFaces"] == [face]
    assert out["UnsuccessfulFaceDeletions"] == [{"FaceId": missing, "Reasons": ["FACE_NOT_FOUND"]}]
    assert rek.list_faces(CollectionId="deletions")["Faces"] == []


# ---------------------------------------------------------------------------------------------- errors
def test_rekognition_errors(rek: Any, raw: Any, gallery: dict[str, Any], pipeline: Pipeline) -> None:
    code, msg, status = aws_error(lambda: raw.describe_collection(CollectionId="bad/id"))
    assert (code, status) == ("InvalidParameterException", 400) and "CollectionId" in msg
    code, _, _ = aws_error(lambda: raw.search_faces(CollectionId="gallery", FaceId="x", FaceMatchThreshold=101))
    assert code == "InvalidParameterException"
    code, _, _ = aws_error(lambda: rek.detect_faces(Image={"Bytes": b"this is not an image"}))
    assert code == "InvalidImageFormatException"
    code, _, _ = aws_error(lambda: raw.detect_faces(Image={"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)}))
    assert code == "ImageTooLargeException"
    code, msg, _ = aws_error(lambda: rek.list_faces(CollectionId="gallery", NextToken="forged.token"))
    assert code == "InvalidPaginationTokenException"
    token = rek.list_faces(CollectionId="gallery", MaxResults=1)["NextToken"]
    code, _, _ = aws_error(lambda: rek.list_users(CollectionId="gallery", NextToken=token))  # another op's token
    assert code == "InvalidPaginationTokenException"
    code, _, _ = aws_error(lambda: rek.search_faces(CollectionId="gallery",
                                                    FaceId="00000000-0000-4000-8000-000000000000"))
    assert code == "ResourceNotFoundException"
    code, msg, _ = aws_error(lambda: rek.search_faces_by_image(CollectionId="gallery",
                                                               Image={"Bytes": _blank_png()}))
    assert code == "InvalidParameterException" and "no faces" in msg
    code, msg, _ = aws_error(lambda: rek.detect_labels(Image={"Bytes": _photo("amy", 0)}))
    assert code == "AccessDeniedException" and "not supported" in msg


def _blank_png() -> bytes:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(buf, "PNG")
    return buf.getvalue()


def test_s3_objects_of_the_agency_only(rek: Any, pipeline: Pipeline, gallery: dict[str, Any]) -> None:
    ok = rek.search_faces_by_image(CollectionId="gallery", FaceMatchThreshold=0,
                                   Image={"S3Object": {"Bucket": "lineup-images", "Name": gallery["s3_key"]}})
    assert ok["FaceMatches"][0]["Face"]["FaceId"] in gallery["faces"]["amy"]
    for name in ("other-agency/images/uploads/amy-0.png", f"{pipeline.agency}/images/uploads/missing.png"):
        code, _, _ = aws_error(lambda name=name: rek.detect_faces(
            Image={"S3Object": {"Bucket": "lineup-images", "Name": name}}))
        assert code == "InvalidS3ObjectException"


# ---------------------------------------------------------------------------------------------- sessions
def test_signature_failures(pipeline: Pipeline, session: session_pb2.CreateSessionResponse,
                            checker: ShapeChecker) -> None:
    wrong_secret = make_client(pipeline, session, checker, secret="A" * 40)
    code, _, status = aws_error(wrong_secret.list_collections)
    assert (code, status) == ("InvalidSignatureException", 403)
    sid, agency, exp, mac = session.session_token.split(".")
    for token in (f"{sid}.{agency}.{int(exp) + 3600}.{mac}", f"{sid}.other-agency.{exp}.{mac}", "garbage"):
        code, _, status = aws_error(make_client(pipeline, session, checker, token=token).list_collections)
        assert (code, status) == ("UnrecognizedClientException", 403)


def test_expired_and_revoked_sessions(channel: grpc.Channel, pipeline: Pipeline, checker: ShapeChecker) -> None:
    fresh = start_session(channel, pipeline)
    # the endpoint refuses a token past its expiry (made here with the local stack's signing key, as the clock
    # would make it after the TTL)
    past = sessions.make_token(session_signing_key(), fresh.access_key_id, pipeline.agency, int(time.time()) - 5)
    code, _, _ = aws_error(make_client(pipeline, fresh, checker, token=past).list_collections)
    assert code == "ExpiredTokenException"
    client = make_client(pipeline, fresh, checker)
    assert "CollectionIds" in client.list_collections()
    session_pb2_grpc.SessionsStub(channel).RevokeSession(session_pb2.RevokeSessionRequest(
        session_id=fresh.access_key_id), metadata=pipeline.metadata("rek-user", None,
                                                                     (R.ROLE_ADMIN, R.ROLE_ENROLLER, R.ROLE_SEARCHER)),
        timeout=30)
    code, msg, _ = aws_error(client.list_collections)
    assert code == "UnrecognizedClientException" and "revoked" in msg


def test_session_roles_and_policy(channel: grpc.Channel, pipeline: Pipeline, checker: ShapeChecker,
                                  gallery: dict[str, Any]) -> None:
    with pytest.raises(grpc.RpcError) as err:
        start_session(channel, pipeline, purpose="curiosity")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    searcher = make_client(pipeline, start_session(channel, pipeline, user="rek-searcher",
                                                   roles=(R.ROLE_SEARCHER,)), checker)
    code, msg, status = aws_error(lambda: searcher.index_faces(CollectionId="gallery",
                                                                Image={"Bytes": _photo("amy", 3)}))
    assert (code, status) == ("AccessDeniedException", 403) and "enroller" in msg
    assert searcher.search_faces_by_image(CollectionId="gallery", Image={"Bytes": _photo("amy", 3)})


def test_session_id_alone_is_useless_at_the_front_door(channel: grpc.Channel,
                                                       session: session_pb2.CreateSessionResponse) -> None:
    """The access key id is not a secret: presenting it to ingest directly (without the internal credential
    only the Rekognition endpoint holds) is refused."""
    with pytest.raises(grpc.RpcError) as err:
        face_search_pb2_grpc.FaceSearchStub(channel).ListCollections(
            face_search_pb2.ListCollectionsRequest(),
            metadata=[("authorization", f"Session {session.access_key_id}")], timeout=30)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_another_agency_sees_nothing(channel: grpc.Channel, pipeline: Pipeline, rek: Any, checker: ShapeChecker,
                                     gallery: dict[str, Any]) -> None:
    other = make_client(pipeline, start_session(channel, pipeline, agency=f"{pipeline.agency}-b"), checker)
    assert "gallery" not in other.list_collections()["CollectionIds"]
    strip = re.compile(r"'(gallery|no-such-collection)'|\(request id [0-9a-f]+\)")
    theirs = aws_error(lambda: other.describe_collection(CollectionId="gallery"))
    nowhere = aws_error(lambda: other.describe_collection(CollectionId="no-such-collection"))
    assert theirs[0] == nowhere[0] == "ResourceNotFoundException"
    assert strip.sub("", theirs[1]) == strip.sub("", nowhere[1])
    code, _, _ = aws_error(lambda: other.search_faces_by_image(CollectionId="gallery",
                                                               Image={"Bytes": _photo("amy", 2)}))
    assert code == "ResourceNotFoundException"
    code, _, _ = aws_error(lambda: other.detect_faces(
        Image={"S3Object": {"Bucket": "lineup-images", "Name": gallery["s3_key"]}}))
    assert code == "InvalidS3ObjectException"


def test_calls_under_a_session_carry_its_case_in_the_audit_trail(rek: Any, pipeline: Pipeline, channel: grpc.Channel,
                                                                 session: session_pb2.CreateSessionResponse,
                                                                 gallery: dict[str, Any]) -> None:
    rek.search_faces_by_image(CollectionId="gallery", Image={"Bytes": _photo("sheldon", 3)})
    rek.describe_collection(CollectionId="gallery")
    audit = audit_pb2_grpc.AuditStub(channel)
    md = pipeline.metadata("rek-auditor", None, (R.ROLE_AUDITOR,))

    def records() -> list[audit_pb2.AuditRecord]:
        return [r for r in audit.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
            case_id=CASE, page=common_pb2.PageRequest(page_size=1000)), metadata=md, timeout=30).records
            if r.details.get("session_id") == session.access_key_id]

    wanted = {"lineup.v1.FaceSearch/SearchFacesByImage", "lineup.v1.FaceSearch/DescribeCollection"}
    got = _eventually(records, lambda rs: wanted <= {r.operation for r in rs})
    assert wanted <= {r.operation for r in got}
    search = next(r for r in got if r.operation.endswith("SearchFacesByImage"))
    assert (search.case_id, search.purpose, search.justification) == (CASE, PURPOSE, "rekognition migration")
    assert search.decision == audit_pb2.AUDIT_DECISION_ALLOWED and search.search_id


def test_aws_cli_after_eval_of_lineup_session_start(pipeline: Pipeline, gallery: dict[str, Any]) -> None:
    aws = Path(sys.executable).parent / "aws"
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed (pip install -e '.[dev]')")
    key = pipeline.key("rek-cli", None, (R.ROLE_ADMIN, R.ROLE_ENROLLER, R.ROLE_SEARCHER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(LINEUP_API_KEY=key, LINEUP_ENDPOINT=pipeline.endpoint,
               LINEUP_REKOGNITION_ENDPOINT=pipeline.rekognition_url, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    script = (f'eval "$({sys.executable} -m lineup_tools.cli.main session start --case {CASE} --purpose {PURPOSE} '
              f'--ttl 1h --format env)" && {aws} rekognition list-faces --collection-id gallery --output json')
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    faces = json.loads(done.stdout)["Faces"]
    assert len(faces) == 4
    bad = subprocess.run(["bash", "-c", script.replace("list-faces --collection-id gallery",
                                                       "describe-collection --collection-id nope")],
                         env=env, capture_output=True, text=True, timeout=180)
    assert bad.returncode != 0 and "ResourceNotFoundException" in bad.stderr


def test_every_operation_was_exercised_and_checked(checker: ShapeChecker) -> None:
    from rekognition.operations import OPERATIONS
    assert len(OPERATIONS) == 18 and checker.checked > 40 and checker.errors == []


def test_the_local_stack_launches_it_next_to_ingest() -> None:
    """`make demo` / `devstack up` start rekognition with ingest's session signing key, its HTTP port next to its
    health port, and the same launcher as every service (no process is started here)."""
    from lineup_tools.devstack.services import SERVICE_PORTS, ServiceProcess, replica_port

    rek, ingest = ServiceProcess("rekognition"), ServiceProcess("ingest")
    env, ingest_env = rek.environment(), ingest.environment()
    order = list(SERVICE_PORTS)
    assert order.index("rekognition") > order.index("ingest")  # started after ingest
    assert rek.ports == (50056, 50057) and env["LINEUP_HTTP_PORT"] == "50057"
    assert env["LINEUP_SESSION_SIGNING_KEY"] == ingest_env["LINEUP_SESSION_SIGNING_KEY"] == session_signing_key()
    assert env["LINEUP_INGEST_URL"] == "127.0.0.1:50051" and "LINEUP_BOOTSTRAP_ADMIN_KEY" not in env
    every = {p for s in SERVICE_PORTS for n in range(1, 11)
             for p in ServiceProcess(s, n).ports}  # health and HTTP ports of every replica: all distinct
    assert len(every) == sum(len(ServiceProcess(s).ports) for s in SERVICE_PORTS) * 10
    assert replica_port("rekognition", 2) == 50066
