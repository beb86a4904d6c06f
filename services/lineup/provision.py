"""`python -m lineup.provision`: create the Kafka topics and object-store buckets of a deployment.

The services never create topics or buckets themselves (a typo in a setting must not conjure an empty topic), so
a deployment needs them before its first message. The Helm chart runs this as a Job after every install and
upgrade; it is idempotent (existing topics are left alone or only grown, existing buckets are kept) and takes its
names from `lineup.topology` with the same code the local stack uses, so the two cannot drift apart.
Endpoints and credentials are the services' own settings (LINEUP_KAFKA_BOOTSTRAP, LINEUP_TOPIC_PREFIX,
LINEUP_MINIO_*).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lineup.settings import CommonSettings, SettingsError, load_settings


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
    # imported here: the provisioning helpers live with the local stack, which shares them
    from lineup.devstack.base import StackError
    from lineup.devstack.kafka import ensure_topics
    from lineup.devstack.minio import ensure_buckets

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
    except StackError as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the object store's errors: one line, and the Job retries
        print(f"provisioning failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
