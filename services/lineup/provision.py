"""`python -m lineup.provision`: create the Kafka topics and object-store buckets of a deployment.

The services never create topics or buckets themselves (a typo in a setting must not conjure an empty topic), so
a deployment needs them before its first message. The Helm chart runs this as a Job after every install and
upgrade; it is idempotent (existing topics are left alone or only grown, existing buckets are kept) and takes its
names from `lineup.topology` with the same code the local stack uses (it imports these helpers), so the two
cannot drift apart.
Endpoints and credentials are the services' own settings (LINEUP_KAFKA_BOOTSTRAP, LINEUP_TOPIC_PREFIX,
LINEUP_MINIO_*).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from lineup.settings import CommonSettings, SettingsError, load_settings
from lineup.topology import BUCKETS, TOPICS, Topic


class ProvisioningError(RuntimeError):
    """Topics or buckets could not be provisioned; the message is one actionable line."""


def kafka_admin(bootstrap: str, timeout_ms: int, client_id: str = "lineup-provision") -> Any:
    """A kafka-python admin client whose every wait is bounded, so a probe or a provisioning Job cannot hang."""
    from kafka import KafkaAdminClient  # imported lazily: the local stack's CLI must start fast

    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id,
                            bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms,
                            reconnect_backoff_ms=100, reconnect_backoff_max_ms=timeout_ms)


def _existing_partitions(admin: Any, names: list[str]) -> dict[str, int]:
    """Partition counts of those of `names` that exist (unknown topics are simply absent)."""
    counts: dict[str, int] = {}
    for t in admin.describe_topics(names):
        if t.get("error_code", 0) == 0 and t.get("name") in names:
            counts[t["name"]] = len(t.get("partitions") or [])
    return counts


def ensure_topics(bootstrap: str, prefix: str = "", topics: Iterable[Topic] = TOPICS,
                  replication_factor: int = 1, timeout_s: float = 30.0) -> dict[str, str]:
    """Create the pipeline's topics idempotently; grow any that has fewer partitions than configured.

    Returns {topic name: "created" | "grown" | "ok"}. Partition counts only ever go up, because Kafka
    cannot shrink a topic and a smaller configured count must not break an existing deployment. Brokers
    answer transient errors while the controller settles right after start, so this retries until
    `timeout_s` before raising a one-line ProvisioningError.
    """
    from kafka.errors import KafkaError

    wanted = {prefix + t.name: t.partitions for t in topics}
    names = list(wanted)
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    done: dict[str, str] = {}  # what earlier attempts already did, so a retry reports it truthfully
    while time.monotonic() < deadline:
        admin = None
        try:
            admin = kafka_admin(bootstrap, 10_000)
            existing = _existing_partitions(admin, names)
            missing = {n: {"num_partitions": p, "replication_factor": replication_factor}
                       for n, p in wanted.items() if n not in existing}
            grow = {n: p for n, p in wanted.items() if n in existing and existing[n] < p}
            if missing:
                response = admin.create_topics(missing, raise_errors=False)
                for t in response.get("topics", []):
                    # 36 = TOPIC_ALREADY_EXISTS: someone else created it meanwhile, which is fine
                    if t.get("error_code", 0) == 0:
                        done[t["name"]] = "created"
                    elif t.get("error_code") != 36:
                        detail = f"{t.get('error_code')} {t.get('error_message') or ''}".strip()
                        raise ProvisioningError(f"creating Kafka topic {t.get('name')} failed: error {detail}")
            if grow:
                admin.create_partitions(grow)
                done.update(dict.fromkeys(grow, "grown"))
            admin.wait_for_topics(names, timeout_ms=max(1000, int((deadline - time.monotonic()) * 1000)))
            # new partitions reach the metadata cache a little after CreatePartitions returns
            while short := [n for n, c in _existing_partitions(admin, names).items() if c < wanted[n]]:
                if time.monotonic() >= deadline:
                    raise KafkaError(f"topics below their partition count: {', '.join(short)}")
                time.sleep(0.2)
            return {n: done.get(n, "ok") for n in names}
        except ProvisioningError:
            raise
        except Exception as exc:  # kafka-python raises KafkaError subclasses and plain timeouts
            last_error = exc
            time.sleep(0.5)
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()
    raise ProvisioningError(f"could not provision Kafka topics on {bootstrap} within {timeout_s:.0f}s: "
                     f"{type(last_error).__name__}: {last_error}")


def ensure_buckets(endpoint: str, access_key: str, secret_key: str, *, secure: bool = False,
                   buckets: tuple[str, ...] = BUCKETS) -> list[str]:
    """Create every bucket the pipeline uses, idempotently; returns the ones that were created now.

    Shared by the local stack and by deployment provisioning so both create the same names (topology).
    """
    from minio import Minio as MinioClient
    from minio.error import S3Error

    client = MinioClient(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
    created = []
    for bucket in buckets:
        if client.bucket_exists(bucket):
            continue
        try:
            client.make_bucket(bucket)
            created.append(bucket)
        except S3Error as exc:  # another provisioner won the race: that is fine
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    return created




def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup.provision", description=__doc__.splitlines()[0])
    parser.add_argument("--replication-factor", type=int, default=3,
                        help="replicas of each new topic (default 3; 1 for a single broker)")
    parser.add_argument("--skip-topics", action="store_true", help="topics are managed elsewhere (e.g. KafkaTopic)")
    parser.add_argument("--skip-buckets", action="store_true", help="buckets are managed elsewhere")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="how long to retry while Kafka settles")
    args = parser.parse_args(argv)
    if args.replication_factor < 1:
        parser.error("--replication-factor must be >= 1")
    try:
        settings = load_settings(CommonSettings)
        if not args.skip_buckets:
            settings.require("minio_access_key", "minio_secret_key")
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        if not args.skip_topics:
            topics = ensure_topics(settings.kafka_bootstrap, prefix=settings.topic_prefix,
                                   replication_factor=args.replication_factor, timeout_s=args.timeout_s)
            for name, outcome in topics.items():
                print(f"topic {name}: {outcome}")
        if not args.skip_buckets:
            created = ensure_buckets(settings.minio_endpoint, settings.minio_access_key, settings.minio_secret_key,
                                     secure=settings.minio_secure)
            print(f"buckets created: {', '.join(created) or 'none (all exist)'}")
    except ProvisioningError as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the object store's errors: one line, and the Job retries
        print(f"provisioning failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
