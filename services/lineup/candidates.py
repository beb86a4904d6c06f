"""The ranked candidates of any search response, in one shape.

The audit trail records them and examiner review keeps them; both read them from here, so a new search
response type is taught to both at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from lineup.v1 import common_pb2, face_search_pb2


@dataclass(frozen=True)
class Candidate:
    probe_face_index: int
    rank: int
    face_id: str
    user_id: str
    score: common_pb2.MatchScore


def ranked_candidates(response: Message | None) -> list[Candidate]:
    """Every candidate a search returned, per probe face in rank order; [] for a response that is no search."""
    fs = face_search_pb2
    if isinstance(response, fs.SearchFacesByImageResponse):
        return [Candidate(r.face_index, m.rank, m.face.face_id, m.face.user_id, m.score)
                for r in response.results for m in r.face_matches]
    if isinstance(response, fs.SearchFacesResponse):
        return [Candidate(0, m.rank, m.face.face_id, m.face.user_id, m.score) for m in response.face_matches]
    if isinstance(response, fs.SearchUsersResponse | fs.SearchUsersByImageResponse):
        return [Candidate(0, m.rank, m.best_face_id, m.user.user_id, m.score) for m in response.user_matches]
    if isinstance(response, fs.CompareFacesResponse):  # target faces, best first, matched or not
        ranked = sorted([*response.face_matches, *response.unmatched_faces], key=lambda m: -m.score.raw_score)
        return [Candidate(m.face_index, rank, "", "", m.score) for rank, m in enumerate(ranked, start=1)]
    return []
