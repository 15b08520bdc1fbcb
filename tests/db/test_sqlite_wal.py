"""A new SQLite file opened by several processes at once: each connection asks for WAL, and the
switch, which needs the file to itself, is refused at once to all but one."""

from __future__ import annotations

import sqlite3
import threading

from worker.db import session


def test_a_connection_asking_for_wal_while_another_holds_the_file_waits_and_gets_it(tmp_path):
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    asker = sqlite3.connect(path, isolation_level=None)
    asker.execute("PRAGMA busy_timeout = 30000")
    try:
        asker.execute("PRAGMA journal_mode = WAL")
        refused = False
    except sqlite3.OperationalError:
        refused = True
    assert refused, "SQLite refuses the switch at once while another connection holds the file"

    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    session._ask_for_wal(asker.cursor())

    assert asker.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert asker.execute("SELECT count(*) FROM t").fetchone() == (1,)
