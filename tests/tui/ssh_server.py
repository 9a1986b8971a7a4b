"""A private sshd on 127.0.0.1 for the end-to-end SSH tests: its own config, host key and authorized key
in a temporary folder, a free port, key authentication only, running as the current user. Nothing of
the machine's own ssh setup (~/.ssh, /etc/ssh) is read or changed; the client is told to use only the
test's key and known-hosts file (`-F /dev/null`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SSH = shutil.which("ssh")
KEYGEN = shutil.which("ssh-keygen")


def missing() -> str | None:
    """Why the test cannot run here (sshd, ssh or ssh-keygen absent), else None."""
    for name, path in (("sshd (openssh-server)", SSHD), ("ssh (openssh-client)", SSH), ("ssh-keygen", KEYGEN)):
        if path is None:
            return f"{name} is not installed: this test drives xxp-tui over a real SSH connection (CI installs it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SshServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, exist_ok=True)
        self.port = _free_port()
        self.host_key = root / "host_key"
        self.client_key = root / "client_key"
        self.known_hosts = root / "known_hosts"
        self.proc: subprocess.Popen | None = None
        for key in (self.host_key, self.client_key):
            subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                           stdin=subprocess.DEVNULL, capture_output=True)
        authorized = root / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        self.config = root / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {authorized}", f"PidFile {root / 'sshd.pid'}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "X11Forwarding no",
            f"AllowUsers {_user()}", "PrintMotd no", "LogLevel ERROR", "",
        ]))

    def start(self) -> SshServer:
        if os.geteuid() == 0:  # sshd started by root wants its privilege separation folder
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = open(self.root / "sshd.log", "ab")  # noqa: SIM115 - the child holds it
        try:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError("sshd did not listen within 20 s")

    def ssh_argv(self, remote: str, tty: str = "-t", port: int | None = None) -> list[str]:
        """`ssh` to this server running `remote`; `port` another way in to it (a counting proxy, say)."""
        return [SSH, tty, "-F", "/dev/null", "-p", str(port or self.port), "-i", str(self.client_key),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "LogLevel=ERROR",
                f"{_user()}@127.0.0.1", remote]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
