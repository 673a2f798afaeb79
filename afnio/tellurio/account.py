"""``login()``: afnio 0.3.7 signed in to its hosted service; here there is nothing to sign in to."""

from __future__ import annotations

import getpass
import sys
import threading
from typing import Any

__all__ = ["login"]

LOCAL_MESSAGE = (
    "afnio runs locally: no account or API key is needed. Models are called through their own "
    "clients (afnio.models), and runs are saved under ./runs (afnio.tellurio.init)."
)

_said = threading.Event()


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "local"


def login(api_key: str | None = None, relogin: bool = False) -> dict[str, Any]:
    """Does nothing but say, once per process (on stderr), that everything runs locally.

    Args:
        api_key: Accepted for afnio 0.3.7's signature; ignored (never stored or sent).
        relogin: Accepted for afnio 0.3.7's signature; ignored.

    Returns:
        ``{"email": None, "username": <the local user name>, "session_id": None}``, the keys
        afnio 0.3.7 returned.
    """
    if not _said.is_set():
        _said.set()
        print(LOCAL_MESSAGE, file=sys.stderr)
    return {"email": None, "username": _local_user(), "session_id": None}
