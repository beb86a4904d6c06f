"""Each supported Rekognition operation, translated into one or more calls of Lineup's public FaceSearch API.

Input arrives already checked against botocore's shapes (`model.check`); output is built as plain JSON values
of the operation's output shape. Rekognition semantics that differ from Lineup's native API are applied here:
SearchFacesByImage and SearchUsersByImage search the largest face only; thresholds are Rekognition's
similarity percentages (default 80; ingest still applies the agency floor when that is stricter); pagination
tokens are Lineup's own wrapped under a MAC bound to the operation and collection; Lineup never infers age,
gender or emotion, so `Attributes=["ALL"]` is answered with the default attributes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from lineup.v1 import common_pb2, face_search_pb2
from rekognition.errors import RekognitionError, invalid

#: (FaceSearch method, request, idempotency key) -> response
Call = Callable[[str, Message, str], Any]
Json = dict[str, Any]

DEFAULT_THRESHOLD = 80.0
DEFAULT_USER_MATCH_THRESHOLD = 75.0  # AssociateFaces' default in Rekognition
_MAX_PAGE = 1000
_LANDMARKS = {common_pb2.LANDMARK_TYPE_LEFT_EYE: "eyeLeft", common_pb2.LANDMARK_TYPE_RIGHT_EYE: "eyeRight",
              common_pb2.LANDMARK_TYPE_NOSE: "nose", common_pb2.LANDMARK_TYPE_MOUTH_LEFT: "mouthLeft",
              common_pb2.LANDMARK_TYPE_MOUTH_RIGHT: "mouthRight"}


@dataclass(frozen=True)
class Context:
    """What every operation needs besides its parameters."""

    call: Call
    agency_id: str
    region: str
    page_key: bytes  # MAC key of pagination tokens


# ------------------------------------------------------------------------------------------ conversions
def _box(b: common_pb2.BoundingBox) -> Json:
    return {"Width": b.width, "Height": b.height, "Left": b.left, "Top": b.top}


def image_uuid(image_id: str) -> str:
    """Lineup's image id (SHA-256 hex of the bytes) in the UUID form Rekognition's ImageId pattern requires:
    its first 128 bits, so the same photo always has the same ImageId."""
    h = (image_id + "0" * 32)[:32].lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def model_number(face_model_version: str) -> str:
    """Rekognition's IndexFacesModelVersion is numeric ("7.0"); Lineup's versions are `<model>/<n>`: the number.
    FaceModelVersion fields (free text in Rekognition) carry Lineup's full version."""
    tail = face_model_version.rsplit("/", 1)[-1]
    return tail if re.fullmatch(r"[0-9.]+", tail) else "0"


def _face(f: common_pb2.Face) -> Json:
    out: Json = {"FaceId": f.face_id, "BoundingBox": _box(f.bounding_box), "ImageId": image_uuid(f.image_id),
                 "Confidence": f.confidence, "IndexFacesModelVersion": model_number(f.face_model_version)}
    if f.external_image_id:
        out["ExternalImageId"] = f.external_image_id
    if f.user_id:
        out["UserId"] = f.user_id
    return out


def _quality(d: common_pb2.FaceDetail) -> Json:
    return {"Brightness": d.quality.brightness, "Sharpness": d.quality.sharpness}


def _compared(d: common_pb2.FaceDetail) -> Json:
    """A ComparedFace: geometry and quality only (Lineup has no emotion or smile estimate)."""
    return {"BoundingBox": _box(d.bounding_box), "Confidence": d.confidence,
            "Landmarks": [{"Type": _LANDMARKS[lm.type], "X": lm.x, "Y": lm.y} for lm in d.landmarks
                          if lm.type in _LANDMARKS],
            "Pose": {"Roll": d.pose.roll, "Yaw": d.pose.yaw, "Pitch": d.pose.pitch}, "Quality": _quality(d)}


def _detail(d: common_pb2.FaceDetail) -> Json:
    """A FaceDetail with the DEFAULT attributes (box, confidence, landmarks, pose, quality) and nothing else."""
    return _compared(d)


def _reasons(u: common_pb2.UnindexedFace) -> list[str]:
    return [common_pb2.UnindexedReason.Name(r).removeprefix("UNINDEXED_REASON_") for r in u.reasons if r]


def _quality_filter(params: Json, default: str = "NONE") -> common_pb2.QualityFilter:
    """Rekognition's defaults: AUTO for IndexFaces, NONE for the searches and CompareFaces."""
    value = params.get("QualityFilter", default)
    return common_pb2.QualityFilter.Value(f"QUALITY_FILTER_{value}")


#: Rekognition similarities on a scale that means the same for every face model: each 10 points is ten times
#: fewer false matches. 80 (Rekognition's default) is an estimated FMR of 1e-4, Lineup's own default; 70 is
#: 1e-3, 90 is 1e-5, 100 is 1e-6 (the resolution of the calibration) or better. Lineup's native similarity
#: (100 x cosine) depends on the model a collection is pinned to, so old AWS thresholds would mean nothing there.
_SCALE_AT_FMR_1 = 40.0


def similarity_of_fmr(fmr: float) -> float:
    """A Rekognition `Similarity` (0-100) for an estimated false-match rate."""
    if fmr <= 0:
        return 100.0
    return max(0.0, min(100.0, _SCALE_AT_FMR_1 - 10.0 * math.log10(fmr)))


def fmr_of_similarity(similarity: float) -> float:
    """The estimated false-match rate a Rekognition threshold asks for (1.0: no threshold at all)."""
    return min(1.0, 10.0 ** (-(similarity - _SCALE_AT_FMR_1) / 10.0))


def _threshold(value: float | None, default: float) -> common_pb2.Threshold:
    """A Rekognition threshold as a false-match rate: the model-independent way to ask; ingest still applies
    the agency's floor when that is stricter."""
    return common_pb2.Threshold(max_fmr=fmr_of_similarity(default if value is None else value))


def _similarity(score: common_pb2.MatchScore) -> float:
    return round(similarity_of_fmr(score.estimated_fmr), 3)


def _image(params: Json, name: str = "Image") -> common_pb2.Image:
    img = params[name]
    if "Bytes" in img and "S3Object" in img:
        raise invalid(f"{name}: set Bytes or S3Object, not both")
    if "Bytes" in img:
        return common_pb2.Image(bytes=img["Bytes"])
    s3 = img.get("S3Object")
    if not s3 or "Bucket" not in s3 or "Name" not in s3:
        raise invalid(f"{name}: set Bytes, or S3Object with Bucket and Name")
    if "Version" in s3:
        raise RekognitionError("InvalidS3ObjectException", "S3Object.Version is not supported: Lineup's object "
                               "store is not versioned; omit Version")
    return common_pb2.Image(object=common_pb2.ObjectRef(bucket=s3["Bucket"], key=s3["Name"]))


def _has_s3(params: Json) -> bool:
    return any(isinstance(v, dict) and "S3Object" in v for v in params.values())


# ------------------------------------------------------------------------------------------ pagination
def _wrap_token(ctx: Context, op: str, collection: str, token: str) -> str | None:
    if not token:
        return None
    body = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    mac = hmac.new(ctx.page_key, f"{ctx.agency_id}|{op}|{collection}|{token}".encode(), hashlib.sha256)
    wrapped = f"{body}.{mac.hexdigest()[:32]}"
    if len(wrapped) > 255:
        raise RekognitionError("InternalServerError", "the next page token is too long for Rekognition's "
                               "255-character limit; use a smaller MaxResults")
    return wrapped


def _unwrap_token(ctx: Context, op: str, collection: str, params: Json) -> str:
    wrapped = params.get("NextToken", "")
    if not wrapped:
        return ""
    body, _, mac = wrapped.partition(".")
    try:
        token = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        token = ""
    want = hmac.new(ctx.page_key, f"{ctx.agency_id}|{op}|{collection}|{token}".encode(), hashlib.sha256)
    if not token or not hmac.compare_digest(want.hexdigest()[:32], mac):
        raise RekognitionError("InvalidPaginationTokenException", "NextToken is not a token this operation "
                               "returned for this collection; start again without NextToken")
    return token


def _page(ctx: Context, op: str, collection: str, params: Json, default: int = _MAX_PAGE
          ) -> common_pb2.PageRequest:
    size = params.get("MaxResults") or default
    return common_pb2.PageRequest(page_size=min(size, _MAX_PAGE), page_token=_unwrap_token(ctx, op, collection,
                                                                                            params))


def _with_token(out: Json, token: str | None) -> Json:
    if token:
        out["NextToken"] = token
    return out


# ------------------------------------------------------------------------------------------ collections
def create_collection(ctx: Context, p: Json) -> Json:
    cid = p["CollectionId"]
    r = ctx.call("CreateCollection", face_search_pb2.CreateCollectionRequest(collection_id=cid,
                                                                            tags=p.get("Tags", {})), "")
    return {"StatusCode": 200, "CollectionArn": _arn(ctx, cid), "FaceModelVersion": r.face_model_version}


def _arn(ctx: Context, cid: str) -> str:
    return f"aws:rekognition:{ctx.region}:{ctx.agency_id}:collection/{cid}"


def describe_collection(ctx: Context, p: Json) -> Json:
    r = ctx.call("DescribeCollection", face_search_pb2.DescribeCollectionRequest(collection_id=p["CollectionId"]), "")
    return {"FaceCount": r.face_count, "UserCount": r.user_count, "FaceModelVersion": r.face_model_version,
            "CollectionARN": _arn(ctx, r.collection_id), "CreationTimestamp": r.created_at.ToMilliseconds() / 1000}


def list_collections(ctx: Context, p: Json) -> Json:
    r = ctx.call("ListCollections", face_search_pb2.ListCollectionsRequest(
        page=_page(ctx, "ListCollections", "", p)), "")
    own = [c for c in r.collections if not c.granted]  # granted ones are named owner/id, not a CollectionId
    return _with_token({"CollectionIds": [c.collection_id for c in own],
                        "FaceModelVersions": [c.face_model_version for c in own]},
                       _wrap_token(ctx, "ListCollections", "", r.page.next_page_token))


def delete_collection(ctx: Context, p: Json) -> Json:
    ctx.call("DeleteCollection", face_search_pb2.DeleteCollectionRequest(collection_id=p["CollectionId"]), "")
    return {"StatusCode": 200}


# ------------------------------------------------------------------------------------------------ faces
def index_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("IndexFaces", face_search_pb2.IndexFacesRequest(
        collection_id=p["CollectionId"], image=_image(p), external_image_id=p.get("ExternalImageId", ""),
        max_faces=p.get("MaxFaces", 0), quality_filter=_quality_filter(p, "AUTO")), "")
    return {"FaceRecords": [{"Face": _face(fr.face), "FaceDetail": _detail(fr.face_detail)} for fr in r.face_records],
            "FaceModelVersion": r.face_model_version,
            "UnindexedFaces": [{"Reasons": _reasons(u), "FaceDetail": _detail(u.face_detail)}
                               for u in r.unindexed_faces]}


def list_faces(ctx: Context, p: Json) -> Json:
    cid = p["CollectionId"]
    r = ctx.call("ListFaces", face_search_pb2.ListFacesRequest(
        collection_id=cid, user_id=p.get("UserId", ""), face_ids=p.get("FaceIds", []),
        page=_page(ctx, "ListFaces", cid, p)), "")
    return _with_token({"Faces": [_face(f) for f in r.faces], "FaceModelVersion": r.face_model_version},
                       _wrap_token(ctx, "ListFaces", cid, r.page.next_page_token))


def delete_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("DeleteFaces", face_search_pb2.DeleteFacesRequest(collection_id=p["CollectionId"],
                                                                  face_ids=p["FaceIds"]), "")
    return {"DeletedFaces": list(r.deleted_face_ids),
            "UnsuccessfulFaceDeletions": [
                {"FaceId": u.face_id, "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER" if "user" in u.reason
                                                  else "FACE_NOT_FOUND"]} for u in r.unsuccessful]}


def _match(m: face_search_pb2.FaceMatch) -> Json:
    return {"Similarity": _similarity(m.score), "Face": _face(m.face)}


def search_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("SearchFaces", face_search_pb2.SearchFacesRequest(
        collection_id=p["CollectionId"], face_id=p["FaceId"], max_faces=p.get("MaxFaces", 0),
        threshold=_threshold(p.get("FaceMatchThreshold"), DEFAULT_THRESHOLD)), "")
    return {"SearchedFaceId": r.searched_face_id, "FaceMatches": [_match(m) for m in r.face_matches],
            "FaceModelVersion": r.provenance.face_model_version}


def search_faces_by_image(ctx: Context, p: Json) -> Json:
    r = ctx.call("SearchFacesByImage", face_search_pb2.SearchFacesByImageRequest(
        collection_id=p["CollectionId"], image=_image(p), max_faces=p.get("MaxFaces", 0), largest_face_only=True,
        threshold=_threshold(p.get("FaceMatchThreshold"), DEFAULT_THRESHOLD), quality_filter=_quality_filter(p)), "")
    if not r.results:
        raise invalid("There are no faces in the image. Should be at least 1." +
                      (f" ({len(r.unsearched_faces)} face(s) were filtered out by QualityFilter)"
                       if r.unsearched_faces else ""))
    probe = r.results[0]
    return {"SearchedFaceBoundingBox": _box(probe.searched_face.bounding_box),
            "SearchedFaceConfidence": probe.searched_face.confidence,
            "FaceMatches": [_match(m) for m in probe.face_matches],
            "FaceModelVersion": r.provenance.face_model_version}


def compare_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("CompareFaces", face_search_pb2.CompareFacesRequest(
        source_image=_image(p, "SourceImage"), target_image=_image(p, "TargetImage"),
        threshold=_threshold(p.get("SimilarityThreshold"), DEFAULT_THRESHOLD), quality_filter=_quality_filter(p)), "")
    return {"SourceImageFace": {"BoundingBox": _box(r.source_face.bounding_box),
                                "Confidence": r.source_face.confidence},
            "FaceMatches": [{"Similarity": _similarity(m.score), "Face": _compared(m.face)} for m in r.face_matches],
            "UnmatchedFaces": [_compared(m.face) for m in r.unmatched_faces]}


def detect_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("DetectFaces", face_search_pb2.DetectFacesRequest(image=_image(p)), "")
    return {"FaceDetails": [_detail(d) for d in r.face_details]}


# ------------------------------------------------------------------------------------------------ users
def _user(user_id: str) -> Json:
    return {"UserId": user_id, "UserStatus": "ACTIVE"}


def create_user(ctx: Context, p: Json) -> Json:
    ctx.call("CreateUser", face_search_pb2.CreateUserRequest(collection_id=p["CollectionId"], user_id=p["UserId"]),
             p.get("ClientRequestToken", ""))
    return {}


def delete_user(ctx: Context, p: Json) -> Json:
    # Rekognition's DeleteUser keeps the faces (they become unassociated); so does this
    ctx.call("DeleteUser", face_search_pb2.DeleteUserRequest(collection_id=p["CollectionId"], user_id=p["UserId"]),
             p.get("ClientRequestToken", ""))
    return {}


def list_users(ctx: Context, p: Json) -> Json:
    cid = p["CollectionId"]
    r = ctx.call("ListUsers", face_search_pb2.ListUsersRequest(collection_id=cid,
                                                              page=_page(ctx, "ListUsers", cid, p, default=100)), "")
    return _with_token({"Users": [_user(u.user_id) for u in r.users]},
                       _wrap_token(ctx, "ListUsers", cid, r.page.next_page_token))


def _association_reason(reason: str) -> str:
    low = reason.lower()
    if "threshold" in low or "match" in low:
        return "LOW_MATCH_CONFIDENCE"
    if "another user" in low or "different user" in low or "associated" in low:
        return "ASSOCIATED_TO_A_DIFFERENT_USER"
    return "FACE_NOT_FOUND"


def associate_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("AssociateFaces", face_search_pb2.AssociateFacesRequest(
        collection_id=p["CollectionId"], user_id=p["UserId"], face_ids=p["FaceIds"],
        user_match_threshold=_threshold(p.get("UserMatchThreshold"), DEFAULT_USER_MATCH_THRESHOLD)),
        p.get("ClientRequestToken", ""))
    return {"AssociatedFaces": [{"FaceId": f} for f in r.associated_face_ids],
            "UnsuccessfulFaceAssociations": [{"FaceId": u.face_id, "Reasons": [_association_reason(u.reason)]}
                                             for u in r.unsuccessful],
            "UserStatus": "ACTIVE"}


def disassociate_faces(ctx: Context, p: Json) -> Json:
    r = ctx.call("DisassociateFaces", face_search_pb2.DisassociateFacesRequest(
        collection_id=p["CollectionId"], user_id=p["UserId"], face_ids=p["FaceIds"]), p.get("ClientRequestToken", ""))
    return {"DisassociatedFaces": [{"FaceId": f} for f in r.disassociated_face_ids],
            "UnsuccessfulFaceDisassociations": [
                {"FaceId": u.face_id, "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER" if "not associated" in u.reason
                                                  else "FACE_NOT_FOUND"]} for u in r.unsuccessful],
            "UserStatus": "ACTIVE"}


def _user_match(m: face_search_pb2.UserMatch) -> Json:
    return {"Similarity": _similarity(m.score), "User": _user(m.user.user_id)}


def search_users(ctx: Context, p: Json) -> Json:
    if ("UserId" in p) == ("FaceId" in p):
        raise invalid("set exactly one of UserId and FaceId")
    req = face_search_pb2.SearchUsersRequest(
        collection_id=p["CollectionId"], max_users=p.get("MaxUsers", 0),
        threshold=_threshold(p.get("UserMatchThreshold"), DEFAULT_THRESHOLD))
    if "UserId" in p:
        req.user_id = p["UserId"]
    else:
        req.face_id = p["FaceId"]
    r = ctx.call("SearchUsers", req, "")
    out: Json = {"UserMatches": [_user_match(m) for m in r.user_matches],
                 "FaceModelVersion": r.provenance.face_model_version}
    if "UserId" in p:
        out["SearchedUser"] = {"UserId": p["UserId"]}
    else:
        out["SearchedFace"] = {"FaceId": p["FaceId"]}
    return out


def search_users_by_image(ctx: Context, p: Json) -> Json:
    r = ctx.call("SearchUsersByImage", face_search_pb2.SearchUsersByImageRequest(
        collection_id=p["CollectionId"], image=_image(p), max_users=p.get("MaxUsers", 0),
        threshold=_threshold(p.get("UserMatchThreshold"), DEFAULT_THRESHOLD), quality_filter=_quality_filter(p)), "")
    if not r.HasField("searched_face"):
        raise invalid("There are no faces in the image. Should be at least 1.")
    return {"UserMatches": [_user_match(m) for m in r.user_matches],
            "FaceModelVersion": r.provenance.face_model_version,
            "SearchedFace": {"FaceDetail": _detail(r.searched_face)},
            "UnsearchedFaces": [{"FaceDetails": _detail(u.face_detail), "Reasons": _reasons(u)}
                                for u in r.unsearched_faces]}


OPERATIONS: dict[str, Callable[[Context, Json], Json]] = {
    "CreateCollection": create_collection, "DescribeCollection": describe_collection,
    "ListCollections": list_collections, "DeleteCollection": delete_collection, "IndexFaces": index_faces,
    "ListFaces": list_faces, "DeleteFaces": delete_faces, "SearchFaces": search_faces,
    "SearchFacesByImage": search_faces_by_image, "CompareFaces": compare_faces, "DetectFaces": detect_faces,
    "CreateUser": create_user, "DeleteUser": delete_user, "ListUsers": list_users,
    "AssociateFaces": associate_faces, "DisassociateFaces": disassociate_faces, "SearchUsers": search_users,
    "SearchUsersByImage": search_users_by_image,
}


def has_s3_object(params: Json) -> bool:
    return _has_s3(params)


def dumps(value: Json) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
