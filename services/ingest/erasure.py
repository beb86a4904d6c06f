"""Erasure: what deleting faces removes besides their vectors, and the receipt that lists it.

Crops belong to exactly one face and go with it. A source image goes once no face of the agency, in any
collection, still refers to it (one photo can be enrolled in several collections). The receipt is written
to the audit trail so that an agency can show what was removed and when.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.search_client import SearchClient
from lineup.objectstore import ObjectStore
from lineup.v1 import audit_pb2, common_pb2, search_pb2

IMAGES_BUCKET = "lineup-images"


def erase_face_objects(store: ObjectStore, search: SearchClient, agency_id: str,
                       faces: Sequence[search_pb2.FaceVector], reason: str) -> audit_pb2.ErasureReceipt:
    """Delete the crops of already-deleted faces and their unreferenced source images."""
    receipt = audit_pb2.ErasureReceipt(face_ids=[f.face.face_id for f in faces], reason=reason)
    for f in faces:
        if f.crop.key and store.exists(f.crop):
            store.delete(f.crop)
            receipt.objects.append(f.crop)
    for image_id in sorted({f.face.image_id for f in faces if f.face.image_id}):
        if not image_referenced(search, agency_id, image_id):
            for kind in ("images", "probes"):
                ref = common_pb2.ObjectRef(bucket=IMAGES_BUCKET, key=f"{agency_id}/{kind}/{image_id[:2]}/{image_id}")
                if store.exists(ref):
                    store.delete(ref)
                    receipt.objects.append(ref)
    return receipt


def image_referenced(search: SearchClient, agency_id: str, image_id: str) -> bool:
    token = ""
    while True:
        page = search.call("ListCollections", search_pb2.ListVectorCollectionsRequest(
            agency_id=agency_id, page=common_pb2.PageRequest(page_size=1000, page_token=token)))
        for c in page.collections:
            hits = search.call("GetFaces", search_pb2.GetFacesRequest(
                agency_id=agency_id, collection_id=c.collection_id, image_id=image_id,
                page=common_pb2.PageRequest(page_size=1)))
            if hits.faces:
                return True
        token = page.page.next_page_token
        if not token:
            return False
