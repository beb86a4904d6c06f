"""gRPC servicer of `detection`. RPCs that are not implemented yet answer UNIMPLEMENTED (the generated
base class), so clients get an honest status instead of a fake result."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from detection.settings import DetectionSettings
from lineup.v1 import detection_pb2, detection_pb2_grpc


class DetectionServiceServicer(detection_pb2_grpc.DetectionServiceServicer):
    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings


def register(server: grpc.Server, servicer: DetectionServiceServicer) -> Sequence[str]:
    detection_pb2_grpc.add_DetectionServiceServicer_to_server(servicer, server)
    return [detection_pb2.DESCRIPTOR.services_by_name["DetectionService"].full_name]
