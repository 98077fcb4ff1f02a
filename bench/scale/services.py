"""The processes of a scale-out installation on loopback, each started, killed, restarted and
measured (CPU seconds from /proc) by the harness.

PostgreSQL is either a throwaway cluster made here with initdb and pg_ctl (so the harness may
restart it) or an existing server where a database of its own is created; Redis likewise a
throwaway `redis-server` on a free port, or a database number of an existing one. Caddy runs
deploy/caddy/naryad.caddy itself, adapted only through its environment variables.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from server.db import POSTGRES_SESSION

ROOT = Path(__file__).resolve().parents[2]
CADDY_SITE = ROOT / "deploy" / "caddy" / "naryad.caddy"
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if not found:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install {package})")
    return found


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/N/bin (Debian), else pg_config's bindir."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    raise RuntimeError("PostgreSQL's server binaries are missing (apt-get install postgresql)")


def run_as_user() -> str | None:
    """initdb, pg_ctl and pgbouncer refuse root: run them as `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, but neither a postgres nor a nobody user exists")


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    """setpriv execs the command itself, so the pid the harness holds is the program's."""
    if not user:
        return list(argv)
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]


def give_to(path: Path, user: str | None) -> None:
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def proc_cpu_s(pid: int, children_too: bool = True) -> float:
    """utime+stime (and, with children_too, cutime+cstime: children it has reaped)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    if children_too:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return 0


class Proc:
    """One long-running child process; restarting makes a new instance under the same name.
    Its CPU time adds up over every instance (a killed one's is read just before the kill)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._cpu_before = 0.0
        self.starts = 0

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl+C of the harness reaches the harness only
        )
        self.starts += 1
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start in time; see {self.log_path}")
            time.sleep(0.1)

    def ready(self) -> bool:
        return True

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_s(self) -> float:
        now = proc_cpu_s(self.pid) if self.alive() else 0.0
        return self._cpu_before + now

    def kill9(self) -> None:
        assert self.proc is not None
        self._cpu_before += proc_cpu_s(self.pid)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._close_log()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._cpu_before += proc_cpu_s(self.pid)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class HttpProc(Proc):
    """Ready when `probe` answers (any status below 500)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path, probe: str):
        super().__init__(name, argv, env, log)
        self.probe = probe

    def ready(self) -> bool:
        return 0 < http_status(self.probe) < 500


class ApiProcess(HttpProc):
    """`naryad serve` on one port (as deploy/systemd/naryad-api@.service runs it)."""

    def __init__(self, index: int, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port)]
        # /api/me answers 401 without a token: the app is up, without touching the database.
        super().__init__(
            f"api{index}", argv, env, workdir / f"api{index}.log", f"{self.url}/api/me"
        )


class WorkerProcess(Proc):
    """`naryad worker` (deploy/systemd/naryad-worker@.service)."""

    def __init__(self, index: int, env: dict[str, str], workdir: Path) -> None:
        argv = [sys.executable, "-m", "server.cli", "worker"]
        super().__init__(f"worker{index}", argv, env, workdir / f"worker{index}.log")


class SmtpSink(Proc):
    """bench/scale/smtp_sink.py: the Message-IDs it answered 250 to, in a file."""

    def __init__(self, workdir: Path, slow_s: float) -> None:
        self.port = free_port()
        self.out = workdir / "smtp-accepted.txt"
        argv = [sys.executable, str(Path(__file__).with_name("smtp_sink.py"))]
        argv += ["--port", str(self.port), "--out", str(self.out), "--slow-s", str(slow_s)]
        super().__init__("smtp", argv, dict(os.environ), workdir / "smtp.log")

    def ready(self) -> bool:
        return tcp_open(self.port)

    def slow(self, on: bool) -> None:
        self.signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def accepted(self) -> list[str]:
        if not self.out.exists():
            return []
        return [line.strip() for line in self.out.read_text().splitlines() if line.strip()]


class Caddy(HttpProc):
    """deploy/caddy/naryad.caddy as it is, its site and upstreams from the environment."""

    def __init__(self, name: str, upstreams: list[str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home = workdir / name
        home.mkdir(parents=True, exist_ok=True)
        config = home / "Caddyfile"
        config.write_text(f"{{\n\tadmin off\n}}\nimport {CADDY_SITE}\n")
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "NARYAD_SITE": self.url,
            "NARYAD_UPSTREAMS": " ".join(upstreams),
            "NARYAD_PWA_DIR": str(ROOT / "pwa"),
        }
        argv = [tool("caddy", "caddy"), "run", "--config", str(config), "--adapter", "caddyfile"]
        super().__init__(
            name, argv, env, workdir / f"{name}.log", f"{self.url}/manifest.webmanifest"
        )


class RedisServer(Proc):
    """A throwaway redis-server on a free port, without persistence: a restart loses the
    queue, as the harshest restart does; the sweeps must recover from it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [tool("redis-server", "redis-server"), "--port", str(self.port)]
        argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(workdir), "--protected-mode", "no"]
        super().__init__("redis", argv, dict(os.environ), workdir / "redis.log")

    def ready(self) -> bool:
        return tcp_open(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


class PgCluster:
    """A throwaway PostgreSQL cluster: initdb into the work folder, pg_ctl start/restart."""

    def __init__(self, workdir: Path, max_connections: int) -> None:
        self.bin = postgres_bin()
        self.user = run_as_user()
        self.port = free_port()
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.max_connections = max_connections
        self._cpu_before = 0.0

    def _run(self, *argv: str, timeout: float = 120) -> None:
        out = subprocess.run(
            as_user(argv, self.user), capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {out.stdout}{out.stderr}")

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        give_to(self.dir, self.user)
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            "--locale=C.UTF-8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
            f"-c max_connections={self.max_connections} -c shared_buffers=128MB "
            "-c log_min_messages=warning"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options),
            "start",
        )

    def restart(self) -> None:
        """pg_ctl restart -m fast: what `systemctl restart postgresql` does."""
        self._cpu_before += self._cpu_now()
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-m", "fast"),
            "restart",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._cpu_before += self._cpu_now()
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"
                )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _cpu_now(self) -> float:
        pid = self.postmaster_pid()
        if pid is None:
            return 0.0
        # The postmaster's own time, its reaped children's (backends that ended), and the
        # children alive now.
        return proc_cpu_s(pid) + sum(proc_cpu_s(child) for child in children_of(pid))

    def cpu_s(self) -> float:
        return self._cpu_before + self._cpu_now()

    def backends(self) -> int:
        pid = self.postmaster_pid()
        return len(children_of(pid)) if pid else 0


class PgBouncer(Proc):
    """PgBouncer in transaction mode in front of one PostgreSQL server.

    asyncpg sends Naryad's session settings (server/db.py POSTGRES_SESSION) as startup
    parameters, which PgBouncer refuses unless told to ignore them; the database then carries
    them itself (ALTER DATABASE … SET, see `session_settings_sql`)."""

    IGNORED = tuple(POSTGRES_SESSION)

    def __init__(self, workdir: Path, server_url: str, pool_size: int) -> None:
        self.port = free_port()
        self.user = run_as_user()
        parts = urlsplit(server_url)
        self.db_user = unquote(parts.username or "postgres")
        password = unquote(parts.password or "")
        home = workdir / "pgbouncer"
        home.mkdir(parents=True, exist_ok=True)
        give_to(home, self.user)
        auth = home / "users.txt"
        auth.write_text(f'"{self.db_user}" "{password}"\n')
        target = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432}"
        if password:
            target += f" user={self.db_user} password={password}"
        config = home / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = {target}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {home}\n"
            "auth_type = trust\n"
            f"auth_file = {auth}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 2000\n"
            f"ignore_startup_parameters = {', '.join(self.IGNORED)}\n"
            # after PostgreSQL refused a login (restarting), try again in 1 s, not 15
            "server_login_retry = 1\n"
        )
        for path in (auth, config):
            give_to(path, self.user)
        argv = as_user([tool("pgbouncer", "pgbouncer"), str(config)], self.user)
        super().__init__("pgbouncer", argv, dict(os.environ), workdir / "pgbouncer.log")

    def ready(self) -> bool:
        return tcp_open(self.port)

    def url(self, database: str) -> str:
        return f"postgresql://{self.db_user}@127.0.0.1:{self.port}/{database}"


def session_settings_sql(database: str) -> list[str]:
    """What a database behind PgBouncer carries itself instead of the startup parameters."""
    return [f'ALTER DATABASE "{database}" SET {k} = {v}' for k, v in POSTGRES_SESSION.items()]
