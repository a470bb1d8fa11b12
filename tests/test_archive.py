"""Archive readers: mbox (mboxrd unescaping, From_ dates), MMDF, Maildir trees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.adapters import archive
from bridge.adapters.archive import read_maildir, read_mbox

MBOX = (
    b"From alice@example.org Mon Nov  2 09:15:00 2026\n"
    b"Message-ID: <1@example.org>\nSubject: one\n\nbody line\n>From the archive\n\n"
    b"From bob@example.org Tue Nov  3 10:00:00 2026\n"
    b"Message-ID: <2@example.org>\nSubject: two\n\nFrom here on, text\n"
)


def test_mbox_yields_each_message_unescaped_with_its_from_line_date(tmp_path: Path) -> None:
    path = tmp_path / "list.mbox"
    path.write_bytes(MBOX)
    consumed: list[int] = []
    mails = list(read_mbox(path, consumed.append))
    assert [m.source for m in mails] == [f"mbox:{path} #1", f"mbox:{path} #2"]
    assert mails[0].data.endswith(b"body line\nFrom the archive\n")
    assert mails[0].internal_date == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert b"From here on, text" in mails[1].data  # not a separator: no blank line before it
    assert sum(consumed) == len(MBOX)


def test_mmdf_archive_is_split_on_its_markers(tmp_path: Path) -> None:
    path = tmp_path / "list.mmdf"
    path.write_bytes(b"\x01\x01\x01\x01\nSubject: a\n\nx\n\x01\x01\x01\x01\n"
                     b"\x01\x01\x01\x01\nSubject: b\n\ny\n\x01\x01\x01\x01\n")
    assert [m.data for m in read_mbox(path)] == [b"Subject: a\n\nx\n", b"Subject: b\n\ny\n"]


def test_maildir_reads_cur_and_new_but_never_tmp(tmp_path: Path) -> None:
    for sub, name in (("cur", "1:2,S"), ("new", "2"), ("tmp", "3")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / name).write_bytes(f"Subject: {sub}\n\nx\n".encode())
    (tmp_path / ".Sub" / "cur").mkdir(parents=True)
    (tmp_path / ".Sub" / "cur" / "4").write_bytes(b"Subject: sub\n\nx\n")
    (tmp_path / "dovecot-uidlist").write_bytes(b"3 V1 N5\n")  # metadata: not a message
    mails = list(read_maildir(tmp_path))
    subjects = sorted(m.data.split(b"\n")[0] for m in mails if m.problem is None)
    assert subjects == [b"Subject: cur", b"Subject: new", b"Subject: sub"]
    # tmp/ is never read, but its file is reported, not silently left out
    assert [(m.source, m.problem) for m in mails if m.problem] == [
        (f"maildir:{tmp_path / 'tmp' / '3'}", "in tmp/: a delivery that never finished; not read")]


def test_a_plain_folder_of_message_files_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(b"Subject: a\n\nx\n")
    (tmp_path / ".hidden").write_bytes(b"nope")
    assert [m.source for m in read_maildir(tmp_path)] == [f"maildir:{tmp_path / 'a.eml'}"]


def test_mbox_chunk_boundaries_do_not_change_the_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Separators and >From escapes that straddle read chunks split exactly as in one read."""
    path = tmp_path / "list.mbox"
    crlf = (MBOX + b"\n").replace(b"\n", b"\r\n")
    for data in ((MBOX + b"\n") * 5, crlf * 3):
        path.write_bytes(data)
        whole = [(m.data, m.internal_date) for m in read_mbox(path)]
        for size in (1, 3, 7, 64):
            monkeypatch.setattr(archive, "_CHUNK", size)
            assert [(m.data, m.internal_date) for m in read_mbox(path)] == whole
        monkeypatch.undo()
        assert len(whole) == data.count(b"From alice") + data.count(b"From bob")


def test_an_mbox_without_from_lines_is_one_message_not_nothing(tmp_path: Path) -> None:
    path = tmp_path / "single.eml"
    path.write_bytes(b"Message-ID: <a@example.org>\nSubject: s\n\nbody\n")
    assert [m.data for m in read_mbox(path)] == [b"Message-ID: <a@example.org>\nSubject: s\n\nbody\n"]
    path.write_bytes(b"stray text\n\n" + MBOX)
    assert len(list(read_mbox(path))) == 3  # the stray prefix is kept (it becomes a problem)
