"""The `lineup` CLI without a server: argument parsing, rendering of constructed responses, error lines,
and whole commands run against a fake client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from lineup_tools.cli import main as cli
from lineup_tools.cli import render
from lineup_tools.cli.bulk import BulkSummary, IndexItem, IndexOutcome

from lineup.client import Client, load_image, parse_object_ref
from lineup.v1 import common_pb2, face_search_pb2
from tests.fakes import FakeClient

NOTICE = "Investigative lead only: not a positive identification."


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def _match(rank: int, face_id: str, ext: str, raw: float, fmr: float) -> face_search_pb2.FaceMatch:
    return face_search_pb2.FaceMatch(
        rank=rank, score=common_pb2.MatchScore(similarity=100 * raw, raw_score=raw, estimated_fmr=fmr),
        face=common_pb2.Face(face_id=face_id, external_image_id=ext))


def _detail(quality: int = common_pb2.QUALITY_BAND_HIGH) -> common_pb2.FaceDetail:
    return common_pb2.FaceDetail(bounding_box=common_pb2.BoundingBox(left=0.1, top=0.2, width=0.3, height=0.4),
                                 pose=common_pb2.Pose(yaw=-12.4, pitch=3.0, roll=1.0),
                                 quality=common_pb2.FaceQuality(sharpness=80, brightness=55, face_size_px=120,
                                                                band=quality),
                                 confidence=98.7)


def _search_response() -> face_search_pb2.SearchFacesByImageResponse:
    return face_search_pb2.SearchFacesByImageResponse(
        results=[
            face_search_pb2.ProbeFaceResult(face_index=0, searched_face=_detail(), face_matches=[
                _match(1, "f-penny-1", "penny/penny1.png", 0.9612, 2.5e-6),
                _match(2, "f-amy-3", "amy/amy3.png", 0.9301, 8.1e-4)]),
            face_search_pb2.ProbeFaceResult(face_index=1, searched_face=_detail()),
        ],
        unsearched_faces=[common_pb2.UnindexedFace(
            face_index=2, face_detail=_detail(common_pb2.QUALITY_BAND_LOW),
            reasons=[common_pb2.UNINDEXED_REASON_LOW_SHARPNESS, common_pb2.UNINDEXED_REASON_EXTREME_POSE])],
        provenance=face_search_pb2.SearchProvenance(
            search_id="s-123", request_id="r-456", trace_id="t-from-provenance",
            threshold_applied=common_pb2.MatchScore(similarity=92.87, raw_score=0.9287, estimated_fmr=1e-3),
            face_model_version="face_embedder/1", label=common_pb2.RESULT_LABEL_INVESTIGATIVE_LEAD, notice=NOTICE))


# ------------------------------------------------------------------------------------- parsing

def test_search_requires_case_id_and_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["search", "probe.jpg", "--collection", "c"])
    assert exc.value.code == 2
    assert "--case-id" in capsys.readouterr().err


def test_search_arguments_become_a_request() -> None:
    args = cli.build_parser().parse_args(
        ["search", "p.jpg", "--collection", "mugshots", "--case-id", "C-1", "--purpose", "robbery",
         "--justification", "witness lead", "--max-fmr", "1e-3", "--max-faces", "5", "--largest-face-only",
         "--quality-filter", "high", "--json"])
    assert args.func is cli.cmd_search and args.json and args.largest_face_only and args.max_faces == 5
    assert cli.threshold_from(args) == common_pb2.Threshold(max_fmr=1e-3)
    assert cli.context_from(args) == common_pb2.SearchContext(case_id="C-1", purpose="robbery",
                                                              justification="witness lead")
    assert cli.quality_from(args) == common_pb2.QUALITY_FILTER_HIGH


def test_threshold_scales_are_mutually_exclusive_and_optional() -> None:
    parser = cli.build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "p.jpg", "--collection", "c", "--case-id", "x", "--purpose", "p",
                           "--min-similarity", "90", "--max-fmr", "1e-4"])
    args = parser.parse_args(["search", "p.jpg", "--collection", "c", "--case-id", "x", "--purpose", "p"])
    assert cli.threshold_from(args) is None
    assert cli.quality_from(args) == common_pb2.QUALITY_FILTER_UNSPECIFIED


def test_every_documented_command_parses() -> None:
    parser = cli.build_parser()
    ctx = ["--case-id", "c", "--purpose", "p"]
    for argv in (["collections", "create", "c", "--tag", "team=robbery", "--retention-days", "30"],
                 ["collections", "describe", "c"], ["collections", "list", "--all"], ["collections", "delete", "c"],
                 ["index", "dir", "--collection", "c", "--external-id-from-filename", "--max-faces", "1"],
                 ["compare", "a.jpg", "b.jpg", *ctx], ["detect", "a.jpg"],
                 ["faces", "list", "--collection", "c", "--face-id", "f1", "--face-id", "f2"],
                 ["faces", "delete", "f1", "f2", "--collection", "c"],
                 ["users", "create", "u", "--collection", "c"], ["users", "delete", "u", "--collection", "c"],
                 ["users", "list", "--collection", "c"], ["users", "associate", "u", "f1", "--collection", "c"],
                 ["users", "disassociate", "u", "f1", "--collection", "c"],
                 ["users", "search", "--collection", "c", "--face-id", "f1", *ctx],
                 ["jobs", "start", "--collection", "c", "--prefix", "s3://lineup-images/a/x"],
                 ["jobs", "get", "j1", "--wait"], ["jobs", "list"], ["request", "get", "r1"]):
        args = parser.parse_args(argv)
        assert callable(args.func), argv
    faces = parser.parse_args(["faces", "list", "--collection", "c", "--face-id", "f1", "--face-id", "f2"])
    assert faces.face_ids == ["f1", "f2"]
    with pytest.raises(SystemExit):  # users search needs exactly one query
        parser.parse_args(["users", "search", "--collection", "c", *ctx])


def test_tags_and_object_refs() -> None:
    assert cli._tags(["team=robbery", "site=north=east"]) == {"team": "robbery", "site": "north=east"}
    with pytest.raises(cli.CliError):
        cli._tags(["novalue"])
    assert parse_object_ref("s3://lineup-images/a1/x.jpg") == common_pb2.ObjectRef(bucket="lineup-images",
                                                                                   key="a1/x.jpg")
    with pytest.raises(ValueError):
        parse_object_ref("s3://bucket-only")
    assert load_image("s3://b/k").object.key == "k"


def test_client_metadata_carries_the_key_and_a_request_id_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LINEUP_API_KEY",):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LINEUP_ENDPOINT", "10.0.0.9:443")
    with Client(request_id="req-1") as anonymous:
        assert anonymous.endpoint == "10.0.0.9:443"
        assert anonymous.metadata() == [("x-request-id", "req-1")]
        assert anonymous.metadata() == []  # only the first call carries the chosen id
    monkeypatch.setenv("LINEUP_API_KEY", "k-secret")
    with Client("127.0.0.1:1") as keyed:
        assert keyed.metadata() == [("authorization", "Bearer k-secret")]


# ------------------------------------------------------------------------------------ rendering

def test_table_aligns_numbers_right_and_text_left() -> None:
    out = render.table(["name", "score"], [["amy", "9.5"], ["bernadette", "10.25"]]).splitlines()
    assert out[0] == "name        score"
    assert out[1] == "----------  -----"
    assert out[2] == "amy           9.5"
    assert out[3] == "bernadette  10.25"


def test_search_rendering_shows_scores_notice_and_ids() -> None:
    text = render.render_search_by_image(_search_response(), trace_id="t-from-trailer")
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("rank"))
    assert lines[header].split() == ["rank", "face", "id", "external", "image", "id", "similarity", "raw", "score",
                                     "est.", "FMR"]
    assert lines[header + 2].split() == ["1", "f-penny-1", "penny/penny1.png", "96.1", "0.9612", "2.5e-06"]
    assert lines[header + 3].split() == ["2", "f-amy-3", "amy/amy3.png", "93.0", "0.9301", "8.1e-04"]
    assert "probe face 0:" in text and "quality HIGH" in text and "pose -12/+3/+1" in text
    assert "probe face 1:" in text and "(no candidate at or above the threshold)" in text
    assert "LOW_SHARPNESS, EXTREME_POSE" in text
    assert f"INVESTIGATIVE LEAD: {NOTICE}" in text
    assert "search id s-123" in text and "request id r-456" in text
    assert "trace id t-from-trailer" in text and "t-from-provenance" not in text
    assert "similarity >= 92.9 (raw >= 0.9287, est. FMR <= 1.0e-03)" in text
    # without trailing metadata the provenance's trace id is shown
    assert "trace id t-from-provenance" in render.render_search_by_image(_search_response())


def test_json_rendering_keeps_proto_names_enums_and_ids() -> None:
    doc = json.loads(render.to_json(_search_response(), request_id="r-456", trace_id="t-1"))
    assert doc["trace_id"] == "t-1" and doc["request_id"] == "r-456"
    match = doc["response"]["results"][0]["face_matches"][0]
    assert match["face"]["external_image_id"] == "penny/penny1.png"
    assert match["score"]["estimated_fmr"] == pytest.approx(2.5e-6)
    assert doc["response"]["provenance"]["label"] == "RESULT_LABEL_INVESTIGATIVE_LEAD"
    assert doc["response"]["unsearched_faces"][0]["reasons"] == ["UNINDEXED_REASON_LOW_SHARPNESS",
                                                                 "UNINDEXED_REASON_EXTREME_POSE"]
    assert "request_id" not in json.loads(render.to_json(_search_response()))  # empty ids are left out


def test_rpc_error_is_one_line_with_status_name() -> None:
    exc = FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION,
                       "purpose 'curiosity' is not allowed; allowed: robbery (request id r-9)")
    assert render.format_rpc_error(exc) == ("error: FAILED_PRECONDITION: purpose 'curiosity' is not allowed; "
                                            "allowed: robbery (request id r-9)")
    assert render.format_rpc_error(grpc.RpcError()).startswith("error: UNKNOWN: ")


def test_fmr_formatting_never_prints_a_bare_zero() -> None:
    assert render.fmt_fmr(0.0) == "< 1e-9"
    assert render.fmt_fmr(1e-4) == "1.0e-04"


def test_index_detect_compare_and_request_rendering() -> None:
    index = face_search_pb2.IndexFacesResponse(
        face_records=[face_search_pb2.FaceRecord(face=common_pb2.Face(face_id="f1", external_image_id="ext-1"),
                                                 face_detail=_detail())],
        unindexed_faces=[common_pb2.UnindexedFace(face_index=1, face_detail=_detail(common_pb2.QUALITY_BAND_LOW),
                                                  reasons=[common_pb2.UNINDEXED_REASON_EXCEEDS_MAX_FACES])],
        face_model_version="face_embedder/1", image_id="ab" * 32, request_id="r1")
    text = render.render_index(index)
    assert text.startswith("indexed 1 face(s), 1 not indexed") and "ext-1" in text and "EXCEEDS_MAX_FACES" in text

    detect = face_search_pb2.DetectFacesResponse(face_details=[_detail(), _detail(common_pb2.QUALITY_BAND_MEDIUM)],
                                                 image_width=640, image_height=480, request_id="r2")
    text = render.render_detect(detect)
    assert text.splitlines()[0] == "2 face(s) in a 640x480 image (request id r2)"
    assert "HIGH" in text and "MEDIUM" in text and "-12/+3/+1" in text

    compare = face_search_pb2.CompareFacesResponse(
        source_face=_detail(),
        face_matches=[face_search_pb2.CompareFacesMatch(face_index=0, face=_detail(),
                                                        score=common_pb2.MatchScore(similarity=97, raw_score=0.97))],
        unmatched_faces=[face_search_pb2.CompareFacesMatch(face_index=1, face=_detail(),
                                                           score=common_pb2.MatchScore(similarity=40, raw_score=0.4,
                                                                                       estimated_fmr=0.9))],
        provenance=face_search_pb2.SearchProvenance(search_id="s9", notice=NOTICE))
    text = render.render_compare(compare, "t9")
    assert "above threshold" in text and "below" in text and "trace id t9" in text and NOTICE in text

    failed = face_search_pb2.GetRequestResponse(request_id="r3", state=face_search_pb2.REQUEST_STATE_FAILED,
                                                error_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                                error_message="image is too small")
    assert render.render_request(failed).splitlines() == ["request r3: FAILED",
                                                          "error: INVALID_ARGUMENT: image is too small"]
    done = face_search_pb2.GetRequestResponse(request_id="r4", state=face_search_pb2.REQUEST_STATE_DONE,
                                              index_faces=index)
    assert "request r4: DONE" in render.render_request(done) and "ext-1" in render.render_request(done)


def test_bulk_summary_lists_reasons_and_failures() -> None:
    ok = face_search_pb2.IndexFacesResponse(face_records=[face_search_pb2.FaceRecord()] * 2, unindexed_faces=[
        common_pb2.UnindexedFace(reasons=[common_pb2.UNINDEXED_REASON_SMALL_BOUNDING_BOX])])
    none = face_search_pb2.IndexFacesResponse(unindexed_faces=[
        common_pb2.UnindexedFace(reasons=[common_pb2.UNINDEXED_REASON_LOW_BRIGHTNESS])])
    summary = BulkSummary([IndexOutcome(IndexItem(Path("a.jpg"), label="a.jpg"), response=ok),
                           IndexOutcome(IndexItem(Path("b.jpg"), label="b.jpg"), response=none),
                           IndexOutcome(IndexItem(Path("c.jpg"), label="c.jpg"),
                                        error="error: INVALID_ARGUMENT: not an image")])
    text = summary.render().splitlines()
    assert text[0] == ("indexed 2 face(s) from 1 of 3 image(s); 2 face(s) not indexed; 1 image(s) failed")
    assert text[1] == "not indexed, by reason: SMALL_BOUNDING_BOX 1, LOW_BRIGHTNESS 1"
    assert "  b.jpg: LOW_BRIGHTNESS" in text
    assert "  c.jpg: INVALID_ARGUMENT: not an image" in text


# ----------------------------------------------------------------------- commands, fake client

def test_search_command_sends_the_context_and_prints_the_trace_id(
        fake: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    probe = tmp_path / "probe.jpg"
    probe.write_bytes(b"jpeg bytes")
    fake.answers["SearchFacesByImage"] = _search_response()
    rc = cli.main(["search", str(probe), "--collection", "mugshots", "--case-id", "C-7", "--purpose", "robbery",
                   "--min-similarity", "90", "--largest-face-only"])
    assert rc == 0
    _, method, req = fake.calls[0]
    assert method == "SearchFacesByImage" and req.image.bytes == b"jpeg bytes"
    assert req.context.case_id == "C-7" and req.threshold.min_similarity == 90 and req.largest_face_only
    out = capsys.readouterr().out
    assert "penny/penny1.png" in out and "trace id t-trailer" in out and "INVESTIGATIVE LEAD" in out


def test_rpc_errors_exit_non_zero_with_one_line(fake: type[FakeClient], capsys: pytest.CaptureFixture[str]) -> None:
    fake.answers["DescribeCollection"] = FakeRpcError(grpc.StatusCode.NOT_FOUND,
                                                      "collection 'nope' not found (request id r-1)")
    assert cli.main(["collections", "describe", "nope"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: NOT_FOUND: collection 'nope' not found (request id r-1)\n"
    assert captured.out == ""


def test_missing_file_is_an_error_before_any_call(fake: type[FakeClient], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["detect", "/nonexistent/probe.jpg"]) == 1
    assert capsys.readouterr().err == "error: /nonexistent/probe.jpg: no such file\n"
    assert fake.calls == []


def test_index_folder_reports_each_failure_and_a_summary(
        fake: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rel in ("penny/penny1.png", "penny/penny2.png", "amy/amy1.jpg", "notes.txt"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())

    def index(req: face_search_pb2.IndexFacesRequest) -> Any:
        if req.external_image_id == "penny/penny2.png":
            return FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "image is 40 px wide; the minimum is 80 px")
        return face_search_pb2.IndexFacesResponse(face_records=[face_search_pb2.FaceRecord(
            face=common_pb2.Face(face_id="f", external_image_id=req.external_image_id))])

    fake.answers["IndexFaces"] = index
    rc = cli.main(["index", str(tmp_path), "--collection", "g", "--external-id-from-filename", "--no-progress",
                   "--quality-filter", "none"])
    assert rc == 1  # one image failed
    sent = sorted(req.external_image_id for *_, req in fake.calls)
    assert sent == ["amy/amy1.jpg", "penny/penny1.png", "penny/penny2.png"]  # notes.txt is not an image
    assert all(req.quality_filter == common_pb2.QUALITY_FILTER_NONE for *_, req in fake.calls)
    captured = capsys.readouterr()
    assert ("penny/penny2.png: error: INVALID_ARGUMENT: image is 40 px wide; the minimum is 80 px"
            in captured.err)  # shown as it happens, not only in the summary
    assert "indexed 2 face(s) from 2 of 3 image(s); 0 face(s) not indexed; 1 image(s) failed" in captured.out


def test_list_with_all_follows_page_tokens(fake: type[FakeClient], capsys: pytest.CaptureFixture[str]) -> None:
    pages = {"": face_search_pb2.ListCollectionsResponse(
        collections=[face_search_pb2.CollectionSummary(collection_id="a", face_model_version="m/1")],
        page=common_pb2.PageResponse(next_page_token="p2")),
        "p2": face_search_pb2.ListCollectionsResponse(
        collections=[face_search_pb2.CollectionSummary(collection_id="b", face_model_version="m/1", granted=True)])}
    fake.answers["ListCollections"] = lambda req: pages[req.page.page_token]
    assert cli.main(["collections", "list", "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in out[2:]] == ["a", "b"]
    assert out[3].split()[-1] == "yes"
    assert cli.main(["collections", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "more: --page-token p2"
