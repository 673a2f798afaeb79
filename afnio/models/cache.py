"""An explicit response cache: a SQLite file shared safely between processes.

The key of a request is the sha256 of its canonical JSON (sorted keys, no whitespace): provider,
model, the full messages, every completion argument that can change the reply, and an optional
salt. Python's ``hash()`` is never used, so a cache written by one process hits in the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from afnio.models.records import jsonable

__all__ = ["ResponseCache", "request_key"]

# Arguments that change how a request travels, not what the model answers.
_TRANSPORT_ARGS = frozenset({"timeout", "extra_headers"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    usage TEXT NOT NULL,
    model TEXT,
    created_at REAL NOT NULL
)
"""


def request_key(
    provider: str | None,
    model: str,
    messages: list[dict[str, Any]],
    completion_args: dict[str, Any],
    salt: str | None = None,
) -> str:
    """Returns the cache key of a request: a sha256 hex digest of its canonical JSON.

    ``timeout`` and ``extra_headers`` are left out (they do not change the reply); every other
    argument counts, sampling ones (``temperature``, ``seed``, ``top_p``...) included.

    Example:
        >>> from afnio.models.cache import request_key
        >>> a = request_key("openai", "gpt-4o", [{"role": "user", "content": "Hi"}],
        ...                 {"temperature": 0, "seed": 1})
        >>> b = request_key("openai", "gpt-4o", [{"role": "user", "content": "Hi"}],
        ...                 {"seed": 1, "temperature": 0})
        >>> a == b, a == request_key("openai", "gpt-4o", [{"role": "user", "content": "Hi"}],
        ...                          {"temperature": 1, "seed": 1})
        (True, False)
    """
    args = {k: v for k, v in completion_args.items() if k not in _TRANSPORT_ARGS}
    payload = {
        "provider": provider,
        "model": model,
        "messages": messages,
        "completion_args": args,
        "salt": salt,
    }
    canonical = json.dumps(
        jsonable(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Replies of past model calls, stored in a SQLite file.

    The database uses write-ahead logging and a busy timeout, so several processes (and threads)
    can read and write the same file. Nothing is created until the first lookup or store.

    Args:
        path: The SQLite file; its parent directories are created on first use.
        timeout: Seconds to wait for another process holding a write lock.

    Attributes:
        hits: Lookups answered from the cache (by this object).
        misses: Lookups that found nothing.

    Example:
        >>> import tempfile, os
        >>> from afnio.models.cache import ResponseCache
        >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "responses.sqlite"))
        >>> cache.get("k") is None
        True
        >>> cache.put("k", "Hello!", {"total_tokens": 3})
        >>> cache.get("k")
        ('Hello!', {'total_tokens': 3})
        >>> cache.hits, cache.misses, len(cache)
        (1, 1, 1)
        >>> cache.close()
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=self.timeout, check_same_thread=False, isolation_level=None
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                self._set_up(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """Write-ahead logging and the table. Switching the journal mode needs the database to
        itself, and SQLite answers "database is locked" at once (without waiting the busy
        timeout) while another process opens or sets up the same new file: wait and try again,
        up to ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as error:
                busy = "locked" in str(error) or "busy" in str(error)
                if not busy or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def get(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """Returns ``(response, usage)`` stored under ``key``, or ``None``."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT response, usage FROM responses WHERE key = ?", (key,))
                .fetchone()
            )
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return str(row[0]), dict(json.loads(row[1]))

    def put(self, key: str, response: str, usage: dict[str, Any], model: str | None = None) -> None:
        """Stores ``response`` and its ``usage`` under ``key`` (replacing any previous entry)."""
        with self._lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO responses (key, response, usage, model, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, response, json.dumps(jsonable(usage)), model, time.time()),
            )

    def clear(self) -> None:
        """Deletes every stored response."""
        with self._lock:
            self._connection().execute("DELETE FROM responses")

    def __len__(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Closes the database connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, hits={self.hits}, misses={self.misses})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["timeout"])  # type: ignore[misc]
