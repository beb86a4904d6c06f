"""`lineup audit verify|query` without a server: parsing, the requests sent, rendering and exit codes."""

from __future__ import annotations

import argparse
import json

import pytest
from lineup_tools.cli import audit_cmds
from lineup_tools.cli import main as cli

from lineup.v1 import audit_pb2, common_pb2
from tests.fakes import FakeClient


def _record(seq: int, case: str = "C-1") -> audit_pb2.AuditRecord:
    r = audit_pb2.AuditRecord(sequence=seq, record_id=f"rec-{seq}", actor_key_id="key-7", case_id=case,
                              operation="lineup.v1.FaceSearch/SearchFacesByImage", search_id=f"s-{seq}",
                              decision=audit_pb2.AUDIT_DECISION_DENIED, request_id=f"req-{seq}")
    r.time.FromSeconds(1_800_000_000)
    r.candidates.add(face_id="f1")
    return r


def test_query_arguments_become_a_request() -> None:
    args = cli.build_parser().parse_args(
        ["audit", "query", "--case-id", "C-9", "--user", "key-7", "--operation", "SearchFaces",
         "--since", "2026-12-01", "--until", "2026-12-02T10:30:00+01:00", "--search-id", "s-1", "--page-size", "5"])
    req = audit_cmds.query_request(args)
    assert (req.case_id, req.actor_key_id, req.operation, req.search_id) == ("C-9", "key-7", "SearchFaces", "s-1")
    assert req.from_time.ToJsonString() == "2026-12-01T00:00:00Z"  # naive times are UTC
    assert req.to_time.ToJsonString() == "2026-12-02T09:30:00Z"
    assert req.page == common_pb2.PageRequest(page_size=5)


def test_bad_time_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["audit", "query", "--since", "yesterday"])
    assert exc.value.code == 2
    assert "ISO 8601" in capsys.readouterr().err
    with pytest.raises(argparse.ArgumentTypeError):
        audit_cmds.parse_time("12/02/2026")


def test_verify_intact_exits_0_and_prints_the_head(fake: type[FakeClient], capsys: pytest.CaptureFixture[str]) -> None:
    fake.answers["VerifyAuditChain"] = audit_pb2.VerifyAuditChainResponse(
        intact=True, records_checked=12, segments_checked=3, head_sequence=12, head_hash="ab" * 32)
    assert cli.main(["audit", "verify"]) == 0
    assert fake.calls[0][:2] == ("Audit", "VerifyAuditChain")
    out = capsys.readouterr().out
    assert "INTACT: 12 records in 3 segments" in out and "sequence 12, hash " + "ab" * 32 in out


def test_verify_broken_exits_1_and_names_the_link(fake: type[FakeClient], capsys: pytest.CaptureFixture[str]) -> None:
    fake.answers["VerifyAuditChain"] = audit_pb2.VerifyAuditChainResponse(
        intact=False, records_checked=4, segments_checked=2, head_sequence=4, head_hash="cd" * 32,
        first_broken=audit_pb2.BrokenLink(segment="pd-1/000000000004-000000000006.seg", sequence=5,
                                          record_id="rec-5", reason="hash mismatch"))
    assert cli.main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at sequence 5: hash mismatch" in out
    assert "pd-1/000000000004-000000000006.seg" in out and "rec-5" in out
    assert cli.main(["audit", "verify", "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["response"]["first_broken"]["record_id"] == "rec-5" and body["trace_id"] == "t-trailer"


def test_query_all_follows_pages_and_renders_a_table(fake: type[FakeClient], capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    pages = {"": ([_record(1), _record(2)], "tok-2"), "tok-2": ([_record(3, case="C-2")], "")}

    def answer(req: audit_pb2.QueryAuditRecordsRequest) -> audit_pb2.QueryAuditRecordsResponse:
        records, token = pages[req.page.page_token]
        return audit_pb2.QueryAuditRecordsResponse(records=records,
                                                   page=common_pb2.PageResponse(next_page_token=token))

    fake.answers["QueryAuditRecords"] = answer
    assert cli.main(["audit", "query", "--case-id", "C-1", "--all"]) == 0
    assert [c[2].page.page_token for c in fake.calls] == ["", "tok-2"]
    assert all(c[:2] == ("Audit", "QueryAuditRecords") and c[2].case_id == "C-1" for c in fake.calls)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["seq", "time", "user", "operation", "decision", "case", "collection", "candidates",
                                "search", "id", "request", "id"]
    assert len(lines) == 2 + 3 and "SearchFacesByImage" in lines[2] and "DENIED" in lines[2]
    assert "req-3" in lines[4] and "C-2" in lines[4]

    fake.calls.clear()
    assert cli.main(["audit", "query"]) == 0  # one page only: says how to get the next
    assert len(fake.calls) == 1 and "more: --page-token tok-2" in capsys.readouterr().out
