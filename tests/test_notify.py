"""The systemd notify protocol, read from a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bridge.service.notify import (
    MAX_STATUS_CHARS,
    Notifier,
    WatchdogKeeper,
    clean_status,
    socket_address,
    watchdog_usec,
)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound in tmp_path, as systemd binds /run/systemd/notify."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def receive(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode("utf-8")
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_ready_status_watchdog_stopping_arrive_as_datagrams(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    notifier.ready()
    assert receive(sock) == {"READY": "1"}
    notifier.status("cycle done: 3 new mails")
    assert receive(sock) == {"STATUS": "cycle done: 3 new mails"}
    notifier.watchdog()
    assert receive(sock) == {"WATCHDOG": "1"}
    notifier.stopping("shutting down")
    assert receive(sock) == {"STOPPING": "1", "STATUS": "shutting down"}
    notifier.close()


def test_ready_can_carry_a_status_in_the_same_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    Notifier.from_env({"NOTIFY_SOCKET": path}).ready("listening to INBOX")
    assert receive(sock) == {"READY": "1", "STATUS": "listening to INBOX"}


def test_reloading_sends_monotonic_usec_and_ready_ends_the_reload(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    notifier.reloading()
    message = receive(sock)
    assert message["RELOADING"] == "1"
    assert int(message["MONOTONIC_USEC"]) > 0
    notifier.ready()
    assert receive(sock) == {"READY": "1"}


def test_an_abstract_socket_named_with_at_sign_is_reached() -> None:
    """systemd may hand out "@name": a socket in the abstract namespace, not a file."""
    name = f"listserv-bridge-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        assert receive(sock) == {"READY": "1"}
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_silent_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    with capture_logs() as logs:
        notifier.ready()
        notifier.status("x")
        notifier.watchdog()
        notifier.stopping()
    assert logs == []
    assert notifier.watchdog_interval() is None


def test_status_text_is_one_line_without_control_characters() -> None:
    assert clean_status("line one\nREADY=1\r\n\tend\x00") == "line one READY=1 end"
    long = clean_status("x" * 1000)
    assert len(long) == MAX_STATUS_CHARS and long.endswith("…")


def test_a_newline_in_status_cannot_inject_a_second_assignment(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    Notifier.from_env({"NOTIFY_SOCKET": path}).status("evil\nREADY=1")
    assert receive(sock) == {"STATUS": "evil READY=1"}


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "120000000"}
    assert Notifier.from_env(env).watchdog_interval() == 60.0


def test_watchdog_meant_for_another_pid_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}
    assert Notifier.from_env(env, pid=4242).watchdog_interval() is None
    env["WATCHDOG_PID"] = "4242"
    assert Notifier.from_env(env, pid=4242).watchdog_interval() == 60.0


@pytest.mark.parametrize("value", ["", "0", "-5", "soon"])
def test_a_missing_or_invalid_watchdog_usec_means_no_watchdog(value: str) -> None:
    assert watchdog_usec({"WATCHDOG_USEC": value}, 1) is None


@pytest.mark.parametrize(("value", "address"), [
    ("/run/systemd/notify", "/run/systemd/notify"),
    ("@abstract", "\0abstract"),
    ("@", None),
    ("relative/path", None),
    ("vsock:2:1234", None),
])
def test_socket_address_accepts_paths_and_abstract_names_only(value: str, address: str | None) -> None:
    assert socket_address(value) == address


def test_an_unsupported_socket_is_logged_and_ignored() -> None:
    with capture_logs() as logs:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert [e["event"] for e in logs] == ["notify_socket_unsupported"]


def test_send_errors_never_raise_and_are_logged_once_per_outage(tmp_path: Path) -> None:
    path = str(tmp_path / "late")
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    with capture_logs() as logs:
        notifier.ready()
        notifier.watchdog()
        notifier.watchdog()
    assert [e["event"] for e in logs] == ["notify_failed"]
    assert logs[0]["notify_socket"] == path

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # systemd is back (re-executed)
    sock.bind(path)
    sock.settimeout(5)
    try:
        with capture_logs() as logs:
            notifier.watchdog()
        assert receive(sock) == {"WATCHDOG": "1"}
        assert [e["event"] for e in logs] == ["notify_recovered"]
    finally:
        sock.close()


def test_from_env_reads_the_process_environment_by_default(
        listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier.from_env()
    assert notifier.watchdog_interval() == 15.0
    notifier.watchdog()
    assert receive(sock) == {"WATCHDOG": "1"}


def test_the_keeper_feeds_the_watchdog_while_there_is_progress_and_stops_on_a_stall(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    now = [0.0]
    ticks = threading.Semaphore(0)  # one release per look at the clock: the keeper's rounds

    def clock() -> float:
        ticks.release()
        return now[0]

    keeper = WatchdogKeeper(Notifier(path, watchdog_usec=40_000), stall_seconds=60, clock=clock)
    with capture_logs() as logs:
        keeper.start()
        try:
            assert receive(sock) == {"WATCHDOG": "1"}  # fed with no help from the main thread
            now[0] = 61.0  # a minute without progress: stuck
            for _ in range(6):  # three full rounds of the keeper after the stall
                assert ticks.acquire(timeout=5)
            sock.settimeout(0)
            drained = []
            with contextlib.suppress(BlockingIOError):
                while True:
                    drained.append(receive(sock))
            for _ in range(4):
                assert ticks.acquire(timeout=5)
            with pytest.raises(BlockingIOError):
                receive(sock)  # starved: systemd's watchdog will restart the daemon
            keeper.progress()
            sock.settimeout(5)
            assert receive(sock) == {"WATCHDOG": "1"}
        finally:
            keeper.stop()
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["watchdog_starved"]
