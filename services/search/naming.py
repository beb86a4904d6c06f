"""Milvus naming, filters and the checks on everything that becomes part of a name or a filter.

Agency isolation is structural (docs/search.md): `agency_namespace` gives each agency either a collection
name prefix (`a<len>_<agency>_`, the default `collection` tenancy) or a database of its own (`database`
tenancy). Ids that end up inside filter expressions are restricted to characters that need no escaping,
and every limit of the vector store's API is here, so a request is refused with a clear message before
any Milvus call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lineup.errors import InvalidArgument
from lineup.validation import COLLECTION_ID, COLLECTION_ID_RULE, MAX_FACE_IDS_PER_CALL, MAX_MATCHES
from search.rows import FaceRow

MAX_QUERIES = 100
#: contract limit; Milvus clusters and the embedded engine cap topk at 16384
MAX_TOP_K = MAX_MATCHES + 1  # the public maximum plus the searched face itself (SearchFaces drops it)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_FACE_IDS = MAX_FACE_IDS_PER_CALL
#: Milvus' own ceiling for FLOAT_VECTOR
MAX_DIMENSION = 32768
DATABASE_PREFIX = "lineup_"
#: LINEUP_MILVUS_TENANCY values: the agency in every collection name (any Milvus, the embedded engine
#: included), or one database per agency (Milvus clusters; the embedded engine ignores databases)
TENANCY_COLLECTION = "collection"
TENANCY_DATABASE = "database"
TENANCIES = (TENANCY_COLLECTION, TENANCY_DATABASE)
DEFAULT_DATABASE = "default"
COLLECTION_PREFIX = "c_"
#: the per-agency collection of user records, after the namespace prefix (face collections all start with
#: the prefix and COLLECTION_PREFIX)
USERS_COLLECTION = "lineup_users"
#: Milvus requires a vector field in every collection; user records carry this constant 2-d one
USER_VECTOR_DIM = 2
#: Milvus' ceiling for offset + limit of one query
QUERY_LIMIT = 16384
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_RETENTION_DAYS = 36500
AGENCY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
#: a collection name in the `collection` tenancy (`a<len>_<agency>_...`)
PREFIXED_RE = re.compile(r"^a[0-9]{1,2}_")
# ids that end up inside filter expressions are restricted to characters that need no escaping
FACE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
USER_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# VARCHAR limits of the schema; checked before writing so the caller gets a clear message
MAX_LEN = {"image_id": 64, "external_image_id": 255, "user_id": 128, "crop_bucket": 63, "crop_key": 1024,
            "face_model_version": 128}

# ---------------------------------------------------------------------------------------------- naming


def database_name(agency_id: str) -> str:
    """`lineup_<agency>`: agency ids have no '_', so mapping '-' to '_' cannot merge two agencies."""
    if not AGENCY_RE.fullmatch(agency_id):
        raise InvalidArgument(f"agency id {agency_id!r} is not valid: use 2-63 of a-z, 0-9 and '-'")
    return DATABASE_PREFIX + agency_id.replace("-", "_")


@dataclass(frozen=True)
class Namespace:
    """Where one agency's collections live: a Milvus database, and a prefix of every collection name in it."""

    database: str
    prefix: str

    @property
    def users(self) -> str:
        return self.prefix + USERS_COLLECTION


def agency_namespace(agency_id: str, tenancy: str = TENANCY_COLLECTION) -> Namespace:
    """The agency's namespace. The collection prefix `a<len>_<agency>_` is prefix-free across agencies: the
    length fixes where the agency ends, and agency ids have no '_', so mapping '-' to '_' merges none."""
    database = database_name(agency_id)  # validates the id
    if tenancy == TENANCY_DATABASE:
        return Namespace(database, "")
    return Namespace(DEFAULT_DATABASE, f"a{len(agency_id)}_{agency_id.replace('-', '_')}_")


def collection_name(collection_id: str) -> str:
    """`c_<readable part>_<hash>`: Milvus names allow only [A-Za-z0-9_], so the readable part is lossy
    ('a.b' and 'a_b' look alike) and the SHA-256 prefix keeps distinct ids apart."""
    if not COLLECTION_ID.fullmatch(collection_id):
        raise InvalidArgument(f"collection id {collection_id!r} is not valid: use {COLLECTION_ID_RULE}")
    readable = re.sub(r"[^A-Za-z0-9_]", "_", collection_id)[:40]
    return f"{COLLECTION_PREFIX}{readable}_{collection_digest(collection_id)}"


def collection_digest(collection_id: str) -> str:
    return hashlib.sha256(collection_id.encode()).hexdigest()[:16]


def user_key(collection_id: str, user_id: str) -> str:
    """Primary key of a user record: unique per (collection, user) within the agency's database, and
    sorted like the user ids of one collection (same prefix), which is what ListUsers pages on."""
    return f"{collection_digest(collection_id)}:{user_id}"


def encode_page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_page_token(token: str, pattern: re.Pattern[str] = FACE_ID_RE) -> str:
    """The last id (face, user or collection) of the previous page; the token is opaque to callers but
    carries no secret. It is validated like the id it stands for, because it ends up in a filter."""
    try:
        last_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last_id = ""
    if not pattern.match(last_id):
        raise InvalidArgument("page token is not valid: pass the next_page_token of the previous response")
    return last_id



# ---------------------------------------------------------------------------------------------- validation


def check_face_id(face_id: str) -> None:
    if not FACE_ID_RE.fullmatch(face_id):
        raise InvalidArgument(f"face id {face_id!r} is not valid: use 1-64 of A-Z, a-z, 0-9, '_', '.', ':' and '-'")


def check_user_id(user_id: str) -> None:
    if not USER_ID_RE.fullmatch(user_id):
        raise InvalidArgument(f"user id {user_id!r} is not valid: use 1-128 of A-Z, a-z, 0-9, '_', '.', ':' and '-'")


def check_face_ids(face_ids: Sequence[str]) -> None:
    if len(face_ids) > MAX_FACE_IDS:
        raise InvalidArgument(f"{len(face_ids)} face ids in one call; the limit is {MAX_FACE_IDS}")
    for face_id in face_ids:
        check_face_id(face_id)


def check_vector(values: Sequence[float], dimension: int, what: str) -> None:
    """COSINE needs a finite, non-zero vector of the collection's dimension; anything else would be
    stored or searched as garbage (NaN scores) instead of failing here."""
    if len(values) != dimension:
        raise InvalidArgument(f"{what} has dimension {len(values)}; the collection holds {dimension}-d vectors")
    norm2 = 0.0
    for v in values:
        if not math.isfinite(v):
            raise InvalidArgument(f"{what} contains a non-finite value")
        norm2 += v * v
    if norm2 == 0.0:
        raise InvalidArgument(f"{what} is the zero vector, which has no direction to compare")


def check_row(row: FaceRow, dimension: int) -> None:
    check_face_id(row.face_id)
    if row.user_id:
        check_user_id(row.user_id)
    for name, limit in MAX_LEN.items():
        if len(getattr(row, name)) > limit:
            raise InvalidArgument(f"face {row.face_id}: {name} is longer than {limit} characters")
    check_vector(row.embedding, dimension, f"embedding of face {row.face_id}")


def page_size_of(page_size: int) -> int:
    page_size = page_size or DEFAULT_PAGE_SIZE
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page size {page_size} is out of range 1..{MAX_PAGE_SIZE}")
    return page_size


def check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"{len(tags)} tags; a collection takes at most {MAX_TAGS}")
    for key, value in tags.items():
        if not 0 < len(key) <= MAX_TAG_KEY:
            raise InvalidArgument(f"tag key {key[:40]!r} must be 1-{MAX_TAG_KEY} characters")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidArgument(f"tag {key!r}: the value is longer than {MAX_TAG_VALUE} characters")


def quote(value: str) -> str:
    """A filter-expression string literal. Values are validated to [A-Za-z0-9_.:-] before they get here;
    escaping anyway keeps a future caller from building an injectable expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
