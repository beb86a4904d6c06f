"""The local Apache Kafka broker: single-node KRaft (broker + controller) on 127.0.0.1:9092/9093.

Why assembled with Maven: the official Apache Kafka jars are on Maven Central, which every developer
machine with a JDK can reach through `mvn`; that avoids Docker and tarball mirrors, and the resolved
classpath is cached outside the checkout (`<cache>/kafka/<version>/lib`) so a second `make up` only
starts the JVM. The version is pinned once, in `infra/kafka/pom.xml`.

`ensure_topics()` is the one place topics are provisioned (from `lineup.topology.TOPICS`); the stack
calls it after the broker is healthy, and tests or services may call it against any cluster.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from string import Template
from typing import Any

from lineup.provision import ProvisioningError, ensure_topics, kafka_admin
from lineup_tools.devstack.base import Component, StackError, port_open, require_tool, run_checked

#: where the local broker answers clients; services read LINEUP_KAFKA_BOOTSTRAP to use another cluster
LOCAL_BOOTSTRAP = "127.0.0.1:9092"
#: the broker/controller entry point of kafka_2.13 (what bin/kafka-server-start.sh runs)
KAFKA_MAIN = "kafka.Kafka"
#: the storage formatter of kafka_2.13 (what bin/kafka-storage.sh runs)
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
#: a developer machine runs four servers at once; Kafka's own default (1 GiB fixed) is more than it needs
HEAP_OPTS = ("-Xms256m", "-Xmx768m")
#: the GC flags of bin/kafka-run-class.sh, so the broker behaves like the packaged distribution
JVM_OPTS = ("-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true")
MIN_JAVA = 17  # Kafka 4.x brokers require Java 17+

_INFRA = Path(__file__).resolve().parents[3] / "infra" / "kafka"
POM = _INFRA / "pom.xml"
SERVER_PROPERTIES_TEMPLATE = _INFRA / "server.properties"
LOG4J2_CONFIG = _INFRA / "log4j2.yaml"


@functools.cache
def kafka_version(pom: Path = POM) -> str:
    """The pinned broker version, read from the pom so that the pin lives in exactly one place."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise StackError(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's Uuid.randomUuid() makes it (URL-safe base64, never starting with '-').

    Generated in Python to spare a JVM start (`kafka-storage.sh random-uuid`) on the first `make up`.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def probe_cluster(bootstrap: str = LOCAL_BOOTSTRAP, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """DescribeCluster over the Kafka protocol; None when nothing usable answers. Never raises.

    An open port is not enough (a JVM binds it long before the broker is registered and unfenced),
    so this asks for the broker list and requires at least one broker in it.
    """
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        if not port_open(int(port), host=host or "127.0.0.1", timeout=min(0.5, timeout_s)):
            return None  # refused: answer in milliseconds instead of waiting out the client's bootstrap
        admin = kafka_admin(bootstrap, int(timeout_s * 1000), client_id="lineup-devstack")
    except Exception:
        return None
    try:
        info: dict[str, Any] = admin.describe_cluster()
        return info if info.get("brokers") else None
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            admin.close()


def _java_major(java: str) -> int:
    """Major version of `java` (17 for '17.0.15', 8 for '1.8.0_392'); 0 when it cannot be told."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


class Kafka(Component):
    """Apache Kafka in KRaft mode, one process acting as broker and controller, loopback only."""

    name = "kafka"
    ports = (9092, 9093)
    start_timeout_s = 90.0

    # --- paths ---------------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self.paths.cache_dir / "kafka" / kafka_version()

    @property
    def lib_dir(self) -> Path:
        return self.home / "lib"

    @property
    def _marker(self) -> Path:
        return self.home / ".installed"

    @property
    def server_properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kafka-logs"

    def _pom_digest(self) -> str:
        return hashlib.sha256(POM.read_bytes()).hexdigest()

    # --- install -------------------------------------------------------------------------------
    def install(self) -> None:
        """Resolve the broker's runtime classpath with Maven into the cache, once per pom content.

        The marker holds the pom's digest, so editing the pin (or the dependency list) re-resolves
        while an unchanged pom costs one file read.
        """
        java = require_tool("java", "apt-get install -y openjdk-17-jre-headless")
        if self._marker.is_file() and self._marker.read_text().strip() == self._pom_digest() \
                and self.lib_dir.is_dir():
            return
        mvn = require_tool("mvn", "apt-get install -y maven")
        if _java_major(java) < MIN_JAVA:
            raise StackError(f"Kafka {kafka_version()} needs Java {MIN_JAVA}+, but `{java}` is older: "
                             f"apt-get install -y openjdk-17-jre-headless")
        version = kafka_version()
        self.home.mkdir(parents=True, exist_ok=True)
        for stale in self.home.glob("lib.tmp-*"):  # left by an interrupted earlier attempt
            shutil.rmtree(stale, ignore_errors=True)
        staging = self.home / f"lib.tmp-{os.getpid()}"
        log = self.paths.log_dir / "kafka-install.log"
        with open(log, "a") as fh:
            fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} resolving Apache Kafka {version} ===\n")
        run_checked([mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM),
                     f"-Dmaven.repo.local={self.paths.cache_dir / 'm2'}", f"-Dkafka.lib.dir={staging}",
                     "dependency:copy-dependencies"],
                    f"downloading Apache Kafka {version} from Maven Central", log=log, timeout=1200)
        if not (staging / f"kafka_2.13-{version}.jar").is_file():
            raise StackError(f"Maven finished but kafka_2.13-{version}.jar is missing from {staging} "
                             f"(log: {log})")
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        staging.rename(self.lib_dir)
        self._marker.write_text(self._pom_digest() + "\n")

    # --- launch --------------------------------------------------------------------------------
    def _java(self, main: str, *args: str, heap: Iterable[str] = HEAP_OPTS) -> list[str]:
        java = require_tool("java", "apt-get install -y openjdk-17-jre-headless")
        return [java, *heap, *JVM_OPTS, f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
                "-cp", f"{self.lib_dir}/*", main, *args]

    def command(self) -> list[str]:
        return self._java(KAFKA_MAIN, str(self.server_properties))

    def _cluster_id(self) -> str:
        """The persisted cluster id; recovered from meta.properties if only the id file was lost."""
        id_file = self.data_dir / "cluster.id"
        if id_file.is_file() and id_file.read_text().strip():
            return id_file.read_text().strip()
        meta = self.log_dirs / "meta.properties"
        cid = ""
        if meta.is_file():
            m = re.search(r"^cluster\.id=(\S+)", meta.read_text(), re.MULTILINE)
            cid = m.group(1) if m else ""
        cid = cid or new_cluster_id()
        id_file.write_text(cid + "\n")
        return cid

    def prepare(self) -> None:
        """Render server.properties (every start, so template edits apply) and format storage once."""
        rendered = Template(SERVER_PROPERTIES_TEMPLATE.read_text()).substitute(log_dirs=str(self.log_dirs))
        tmp = self.server_properties.with_suffix(".tmp")
        tmp.write_text(rendered)
        tmp.replace(self.server_properties)
        cluster_id = self._cluster_id()
        if (self.log_dirs / "meta.properties").is_file():
            return
        # --standalone: this node is the only voter of a dynamic (KIP-853) controller quorum
        run_checked(self._java(STORAGE_TOOL_MAIN, "format", "--standalone", "--cluster-id", cluster_id,
                               "--config", str(self.server_properties), heap=("-Xmx256m",)),
                    "formatting Kafka storage", log=self.log_file, timeout=120)

    # --- probes --------------------------------------------------------------------------------
    def healthy(self) -> bool:
        return probe_cluster(LOCAL_BOOTSTRAP, timeout_s=2.0) is not None

    def version(self) -> str:
        pin = kafka_version()
        if not self.running():
            return f"external (local pin {pin})"
        return pin if probe_cluster(LOCAL_BOOTSTRAP, timeout_s=2.0) else f"{pin} (not answering)"

    def post_start(self) -> None:
        try:
            ensure_topics(LOCAL_BOOTSTRAP, os.environ.get("LINEUP_TOPIC_PREFIX", ""))
        except ProvisioningError as exc:
            raise StackError(str(exc)) from None
