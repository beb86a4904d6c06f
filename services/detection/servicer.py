"""gRPC servicer of `detection`: `Detect` for trusted internal callers (other services, tools).

The same detector chain as the Kafka stage (`FaceFinder`), so a direct call and the pipeline report the
same faces with the same numbers. No quality filter here: Detect reports every face with its
measurements and lets the caller decide.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import grpc
import numpy as np

from detection.faces import (
    FaceFinder,
    check_scope,
    chip_png,
    decode_image,
    effective_max_faces,
    face_detail,
    model_crop,
)
from detection.settings import DetectionSettings
from lineup.chips import chip_spec
from lineup.errors import InvalidArgument
from lineup.objectstore import ObjectStore, agency_key
from lineup.pipeline import crop_key
from lineup.topology import BUCKETS
from lineup.v1 import detection_pb2, detection_pb2_grpc


class DetectionServiceServicer(detection_pb2_grpc.DetectionServiceServicer):
    def __init__(self, settings: DetectionSettings, finder: FaceFinder, store: ObjectStore) -> None:
        self.settings = settings
        self.finder = finder
        self.store = store

    def Detect(self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
               ) -> detection_pb2.DetectResponse:
        agency_key(request.agency_id)  # validates the id: crops and object refs live under it
        limit = effective_max_faces(request.max_faces, ceiling=self.settings.max_faces)
        source = request.image.WhichOneof("source")
        if source == "bytes":
            data = request.image.bytes
        elif source == "object":
            check_scope(request.image.object, (request.agency_id,), BUCKETS)
            data = self.store.get(request.image.object)
        else:
            raise InvalidArgument("image is missing: send bytes or an object reference")
        spec = chip_spec(request.face_model)  # whose crop: empty means the default model's
        image = decode_image(data, self.settings.max_image_pixels)
        faces = self.finder.find(image)[:limit]
        pixels = np.asarray(image)
        request_id = request.request_id or getattr(context, "request_id", "") or uuid.uuid4().hex
        out = detection_pb2.DetectResponse(image_width=image.width, image_height=image.height,
                                           detector_model_version=self.finder.model_version)
        for face in faces:
            item = detection_pb2.DetectedFace(face_index=face.index,
                                              detail=face_detail(face, image.width, image.height))
            png = chip_png(model_crop(pixels, face, spec))
            if request.store_crops:
                item.crop.CopyFrom(self.store.put(self.settings.crops_bucket,
                                                  crop_key(request.agency_id, request_id, face.index), png,
                                                  content_type="image/png"))
            else:
                item.crop_png = png
            out.faces.append(item)
        return out


def register(server: grpc.Server, servicer: DetectionServiceServicer) -> Sequence[str]:
    detection_pb2_grpc.add_DetectionServiceServicer_to_server(servicer, server)
    return [detection_pb2.DESCRIPTOR.services_by_name["DetectionService"].full_name]
