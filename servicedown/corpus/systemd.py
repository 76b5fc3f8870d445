"""systemd scenarios on a private systemd test host (scripts/systemd-host.sh under a name of
this run's own, never the shared `qbitel-systemd`): a fresh host per scenario, so restart
counters and the journal hold only what the scenario did."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from servicedown.config import Settings
from servicedown.corpus import common
from servicedown.corpus.scenarios import Scenario
from servicedown.ports import free_port
from servicedown.secrets import is_secret_name

SCRIPT = common.ROOT / "scripts" / "systemd-host.sh"
ENV_FILE = "/etc/qbitel/qbitel.env"
SETTLE_TIMEOUT_S = 60.0


class HostError(RuntimeError):
    pass


def _run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise HostError(f"{argv[0]} {' '.join(argv[1:3])}: no end within {timeout:.0f}s") from None
    if p.returncode != 0:
        raise HostError(f"{' '.join(argv[:4])} failed (rc={p.returncode}): "
                        f"{(p.stderr or p.stdout).strip()[-400:]}")
    return p.stdout


class Host:
    """One private systemd host: `with Host() as h:` starts it, removes it at the end."""

    def __init__(self) -> None:
        self.name = f"sdcorpus-systemd-{secrets.token_hex(4)}"
        self.port = free_port()
        self.env = {"QBITEL_SYSTEMD_NAME": self.name, "QBITEL_SYSTEMD_HTTP_PORT": str(self.port)}

    def __enter__(self) -> Host:
        try:
            _run(["bash", str(SCRIPT), "up"], 240, self.env)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=120,
                       env={**os.environ, **self.env})

    def sh(self, command: str, timeout: float = 60) -> str:
        return _run(["docker", "exec", self.name, "sh", "-c", command], timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def secrets(self) -> dict[str, str]:
        """value -> name of the env file's secrets (kept in memory, to mask them)."""
        out = {}
        for line in self.sh(f"cat {ENV_FILE}").splitlines():
            key, _, value = line.partition("=")
            if is_secret_name(key) and value:
                out[value] = key
        return out


# What each systemd scenario does to the host (a shell line run as root inside it).
SETUPS: dict[str, str] = {
    "systemd-healthy": "true",
    "systemd-stopped": "systemctl stop qbitel",
    "systemd-db-down": "systemctl stop postgresql@15-main postgresql",
    # The new value is made inside the host: it never appears in a command line or a log here.
    "systemd-wrong-password": (
        "p=$(head -c 24 /dev/urandom | base64 | tr -d '/+='); "
        f"sed -i \"s/^DATABASE_PASSWORD=.*/DATABASE_PASSWORD=$p/\" {ENV_FILE} && systemctl restart qbitel"),
    "systemd-missing-env": f"sed -i '/^JWT_SECRET=/d' {ENV_FILE} && systemctl restart qbitel",
    "systemd-killed": "kill -9 $(systemctl show -p MainPID --value qbitel)",
}


def build(batch: list[Scenario], out_dir: Path, progress: Callable[[str], None],
          failures: list[str]) -> int:
    done = 0
    for n, sc in enumerate(batch, 1):
        progress(f"[systemd {n}/{len(batch)}] {sc.id}: {sc.title}")
        with common.attempt(sc.id, failures, progress):
            with Host() as host:
                known = host.secrets()
                start = time.time()
                progress(f"    on {host.name}: {SETUPS[sc.id]}")
                host.sh(SETUPS[sc.id])
                known.update(host.secrets())
                common.settle(sc, host.url, SETTLE_TIMEOUT_S)
                settings = Settings(target="systemd", host=f"docker://{host.name}", base_url=host.url,
                                    event_window_s=max(1, int(time.time() - start) + 1),
                                    cpu_sample_s=0.5, **dict(sc.settings))
                common.record(sc, "reference", settings, out_dir, progress, known_secrets=known,
                              provenance={"host": "scripts/systemd-host.sh (a private container)"})
            done += 1
    return done
