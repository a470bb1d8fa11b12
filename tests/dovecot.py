"""A private, real Dovecot IMAP server for tests: own config, certs, users and OAuth2 introspection.

Everything lives in one temp dir; the server listens on 127.0.0.1 only. As root, mail processes
run as `nobody` and login processes as `dovenull` (Dovecot refuses to serve mail as root).
"""

from __future__ import annotations

import itertools
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"
HOST = "127.0.0.1"
_START_TIMEOUT = 10.0  # seconds to wait for the "* OK" greeting


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class CertFiles:
    """A throw-away CA and a server certificate it signed (P-256, SAN localhost + 127.0.0.1)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, stdin=subprocess.DEVNULL)


def make_certificates(directory: Path) -> CertFiles:
    """Create a CA and a server certificate with the openssl command line."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "2",
             "-subj", "/CN=listserv-bridge test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))
    return CertFiles(ca_file=ca_crt, cert_file=crt, key_file=key)


class IntrospectionServer:
    """A tiny OAuth2 token-introspection endpoint (RFC 7662 style) that Dovecot asks over HTTP."""

    def __init__(self, extra_config: str = "") -> None:
        self.tokens: dict[str, str] = {}  # token -> username
        self.requests: list[str] = []  # tokens Dovecot asked about, in order
        tokens, seen = self.tokens, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                seen.append(token)
                user = tokens.get(token)
                body = {"active": True, "username": user} if user else {"active": False}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self._httpd.server_address[1]}/introspect"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass(frozen=True)
class Account:
    """One mailbox user on the test server."""

    username: str
    password: str


def _run_as() -> tuple[int, int, str, str]:
    """(mail uid, mail gid, internal user, login user) that Dovecot accepts for this process."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid, "dovecot", "dovenull"
    me = pwd.getpwuid(os.geteuid())
    return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name


class DovecotServer:
    """A private Dovecot: plain/STARTTLS on `port`, implicit TLS on `tls_port`, maildir storage.

    `extra_config` is appended to dovecot.conf (e.g. `imap_capability = ...`).
    """

    _counter = itertools.count(1)

    def __init__(self, extra_config: str = "") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bridge-dovecot-"))
        self.root.chmod(0o755)  # mail processes run as another uid and must reach mail/
        self.port, self.tls_port = find_free_port(), find_free_port()
        self.certs = make_certificates(self.root)
        self.introspection = IntrospectionServer()
        self.uid, self.gid, internal_user, login_user = _run_as()
        self.mail_root = self.root / "mail"
        self.mail_root.mkdir()
        os.chown(self.mail_root, self.uid, self.gid)
        self.users_dir = self.root / "users"
        self.users_dir.mkdir()
        self.config_file = self.root / "dovecot.conf"
        self.config_file.write_text(self._config(internal_user, login_user) + extra_config)
        (self.root / "oauth2.conf").write_text(
            f"introspection_mode = post\nintrospection_url = {self.introspection.url}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            "force_introspection = yes\n"
        )
        self.log_file = self.root / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _config(self, internal_user: str, login_user: str) -> str:
        chroot = "" if os.geteuid() == 0 else "  chroot =\n"
        return f"""\
protocols = imap
listen = {HOST}
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = bridge-test-{self.port}
log_path = {self.root}/dovecot.log
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 0
ssl = yes
ssl_cert = <{self.certs.cert_file}
ssl_key = <{self.certs.key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u.passwd
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.root}/oauth2.conf
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_dir}/%u.passwd
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port}
    ssl = yes
  }}
{chroot}}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{chroot}}}
"""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the master in the foreground, in its own process group; wait for the greeting.

        Safe to call from a helper thread (tests restart mid-IDLE); for that reason there is no
        PR_SET_PDEATHSIG: it fires when the *thread* that started the child ends.
        """
        (self.root / "run" / "master.pid").unlink(missing_ok=True)  # stale after a hard kill
        with open(self.root / "stdio.log", "ab") as out:
            self._proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )
        self._wait_for_greeting()

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start; see {self.log_file}: {self.read_log()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM the whole process group (master and every session), then reap the master."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again: same port, same config, same maildirs."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        self.introspection.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def read_log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # -- accounts and mail -------------------------------------------------------------------

    def add_user(self, prefix: str = "user", password: str | None = None) -> Account:
        """A fresh user with an empty mailbox, usable at once (a random password by default)."""
        n = next(self._counter)
        account = Account(username=f"{prefix}{n}",
                          password=password or f"pw-{n}-{os.urandom(4).hex()}")
        home = self.mail_root / account.username
        line = f"{account.username}:{{PLAIN}}{account.password}:{self.uid}:{self.gid}::{home}::\n"
        # One file per user: Dovecot re-checks a shared passwd-file at most once a second,
        # so a user added right after a login could stay unknown for up to a second.
        (self.users_dir / f"{account.username}.passwd").write_text(line, encoding="utf-8")
        return account

    def add_token(self, token: str, account: Account) -> None:
        """Make the introspection endpoint accept `token` as a bearer token for `account`."""
        self.introspection.tokens[token] = account.username

    @contextmanager
    def admin(self, account: Account) -> Iterator[IMAPClient]:
        """A second, independent IMAP connection (plain, loopback) logged in as `account`."""
        client = IMAPClient(HOST, port=self.port, ssl=False, timeout=10)
        try:
            client.login(account.username, account.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    def append(self, account: Account, message: bytes, folder: str = "INBOX",
               flags: tuple[bytes, ...] = ()) -> None:
        """APPEND one message through a second connection (creating the folder if needed)."""
        with self.admin(account) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, message, flags=flags)

    def kill_sessions(self, account: Account, sig: int = signal.SIGKILL) -> list[int]:
        """Signal the imap processes serving `account` (pids from the login log lines)."""
        pids = [int(pid) for pid in re.findall(
            rf"Login: user=<{re.escape(account.username)}>,.*?mpid=(\d+)", self.read_log())]
        killed = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                killed.append(pid)
            except ProcessLookupError:
                pass
        return killed
