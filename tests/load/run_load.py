"""`make load` (`python -m tests.load.run_load`): Locust headless against the local stack, then a per-RPC table.

Bounded by design: LINEUP_LOAD_USERS (default 4) users, spawned at LINEUP_LOAD_SPAWN_RATE per second
(default 2), for LINEUP_LOAD_RUN_TIME (default 60s, Locust's syntax: 90s, 5m, 1h30m), against
LINEUP_LOAD_HOST (default 127.0.0.1:50051). Locust's CSV files (`load_stats.csv`, `load_failures.csv`,
`load_stats_history.csv`, ...) and HTML report (`report.html`) go to LINEUP_LOAD_OUT/<UTC timestamp>/
(default load-results/). Exits with Locust's status: non-zero when any request failed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lineup.settings import SettingsError, env_name, load_settings
from tests.load.summary import read_stats, render

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")


@dataclass(frozen=True)
class LoadSettings:
    load_users: int = 4
    load_spawn_rate: float = 2.0
    load_run_time: str = "60s"
    load_host: str = "127.0.0.1:50051"
    load_out: str = "load-results"

    def __post_init__(self) -> None:
        if self.load_users < 1:
            raise SettingsError(f"{env_name('load_users')} must be >= 1")
        if self.load_spawn_rate <= 0:
            raise SettingsError(f"{env_name('load_spawn_rate')} must be > 0 users per second")
        if not self.load_run_time or not _DURATION.match(self.load_run_time):
            raise SettingsError(f"{env_name('load_run_time')}={self.load_run_time!r}: use e.g. 60s, 5m or 1h30m "
                                "(a bound is required)")


def locust_command(settings: LoadSettings, out: Path) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(settings.load_users), "-r", str(settings.load_spawn_rate), "--run-time", settings.load_run_time,
            "--stop-timeout", "30", "--host", settings.load_host, "--csv", str(out / "load"), "--csv-full-history",
            "--html", str(out / "report.html")]


def main() -> int:
    try:
        settings = load_settings(LoadSettings)  # type: ignore[type-var]
    except SettingsError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    out = REPO_ROOT / settings.load_out / datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    print(f"load: {settings.load_users} users (spawn {settings.load_spawn_rate}/s) for {settings.load_run_time} "
          f"against {settings.load_host}; reports in {out}", flush=True)
    rc = subprocess.run(locust_command(settings, out), cwd=REPO_ROOT).returncode
    stats = out / "load_stats.csv"
    if not stats.is_file():
        print(f"load: Locust wrote no {stats.name} (exit {rc}); see its output above", file=sys.stderr)
        return rc or 1
    print(f"\nper RPC ({settings.load_users} users, {settings.load_run_time}):")
    print(render(read_stats(stats)))
    print(f"\nCSV: {out}/load_*.csv  HTML: {out}/report.html")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
