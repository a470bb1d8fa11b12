"""`eval/run.py --list-roots` shows a labeller each thread root and nothing the rules decided.

Blind labels depend on it: the listing must hold every root of the archive (the same ones the
evaluation scores) and no outcome, rule name or text summary.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

from bridge.cli.review import read_archive
from bridge.config.settings import Config

ROOT = Path(__file__).resolve().parents[1]
MBOX = ROOT / "examples" / "sololibrarians.mbox"


def load_eval_run():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("eval_run", ROOT / "eval" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_list_roots_prints_every_root_and_no_decision() -> None:
    out = io.StringIO()
    load_eval_run().list_roots(str(MBOX), Config(), out)
    header, *lines = out.getvalue().splitlines()
    assert header.startswith("# message_id\tdate\tsender\tsubject")
    with read_archive(str(MBOX), Config()) as archive:
        assert archive is not None
        threads = list(archive.threads())
    rows = [line.split("\t") for line in lines]
    # exactly: id, date, sender, subject, messages in the thread; no outcome, evidence or summary
    assert [(r[0], r[3], int(r[4])) for r in rows] == [
        (t.root.message_id, t.root.subject, len(t.messages)) for t in threads]
    assert all(len(r) == 5 for r in rows) and len(rows) > 20
