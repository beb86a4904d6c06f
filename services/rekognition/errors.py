"""Rekognition-style errors: the `__type` and HTTP status an AWS SDK expects, so its retry and error handling
work unchanged. gRPC statuses from ingest are translated here, in one table."""

from __future__ import annotations

import grpc

#: HTTP status per AWS error type; anything else is a 400 client error
_STATUS = {
    "InternalServerError": 500,
    "ServiceUnavailableException": 503,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "ExpiredTokenException": 403,
    "UnknownOperationException": 400,
}


class RekognitionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 400)


def invalid(message: str) -> RekognitionError:
    return RekognitionError("InvalidParameterException", message)


def from_grpc(code: grpc.StatusCode, details: str, *, has_s3_object: bool = False,
              has_page_token: bool = False) -> RekognitionError:
    """The Rekognition error for an ingest status. Ingest's messages are already written for the caller (and end
    with the request id), so they are passed on; only the type is chosen here."""
    text = details or code.name
    low = text.lower()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        if "page_token" in low and has_page_token:
            return RekognitionError("InvalidPaginationTokenException", text)
        if "format" in low or "corrupt" in low:
            return RekognitionError("InvalidImageFormatException", text)
        if "image is" in low and "mb" in low and "limit" in low:
            return RekognitionError("ImageTooLargeException", text)
        return invalid(text)
    if code == grpc.StatusCode.NOT_FOUND:
        if has_s3_object and "object" in low:
            return RekognitionError("InvalidS3ObjectException", text)
        return RekognitionError("ResourceNotFoundException", text)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return RekognitionError("ResourceAlreadyExistsException", text)
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
        # a role the session lacks, or the agency's search policy (purpose, justification): not retryable
        return RekognitionError("AccessDeniedException", text)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if "expired" in low:
            return RekognitionError("ExpiredTokenException", "The security token included in the request is "
                                    f"expired ({text})")
        return RekognitionError("UnrecognizedClientException", "The security token included in the request is "
                                f"invalid ({text})")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if "image" in low or "request is" in low:
            return RekognitionError("ImageTooLargeException", text)
        return RekognitionError("LimitExceededException", text)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
        return RekognitionError("ThrottlingException", text)  # retryable: SDKs back off and retry
    return RekognitionError("InternalServerError", text)  # DEADLINE_EXCEEDED, INTERNAL, UNKNOWN: 500, retried
