"""Download helpers for datasets: fetch a file atomically and check its MD5.

A download goes to a temporary file in the target folder and replaces the destination only
once it is complete and its MD5 matches, so an interrupted or corrupted download never leaves
a partial file where a dataset would read it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from tqdm.auto import tqdm

__all__ = ["USER_AGENT", "calculate_md5", "check_integrity", "check_md5", "download_url"]

USER_AGENT = "afnio"
"""The User-Agent header sent with every download."""

_CHUNK_SIZE = 64 * 1024

PathLike = str | os.PathLike[str]


def calculate_md5(fpath: PathLike, chunk_size: int = 1024 * 1024) -> str:
    """The hex MD5 digest of a file, read in chunks.

    Args:
        fpath: The file.
        chunk_size: How many bytes to read at a time.

    Returns:
        The 32-character lowercase hex digest.

    Example:
        >>> import tempfile, os
        >>> from afnio.utils.datasets.utils import calculate_md5
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "hello.txt")
        ...     with open(path, "wb") as f:
        ...         _ = f.write(b"hello")
        ...     calculate_md5(path)
        '5d41402abc4b2a76b9719d911017c592'
    """
    md5 = hashlib.md5(usedforsecurity=False)
    with open(fpath, "rb") as f:
        while chunk := f.read(chunk_size):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(fpath: PathLike, md5: str, **kwargs: Any) -> bool:
    """Whether a file's MD5 equals ``md5`` (case-insensitive).

    Args:
        fpath: The file.
        md5: The expected hex digest.
        **kwargs: Passed to :func:`calculate_md5` (``chunk_size``).

    Returns:
        ``True`` if the digests match.
    """
    return calculate_md5(fpath, **kwargs) == md5.lower()


def check_integrity(fpath: PathLike, md5: str | None = None) -> bool:
    """Whether a file exists and, when ``md5`` is given, has that MD5.

    Args:
        fpath: The file.
        md5: The expected hex digest, or ``None`` to check only that the file exists.

    Returns:
        ``True`` if the file is there and intact.

    Example:
        >>> from afnio.utils.datasets.utils import check_integrity
        >>> check_integrity("/no/such/file.json")
        False
    """
    if not os.path.isfile(fpath):
        return False
    if md5 is None:
        return True
    return check_md5(fpath, md5)


def _build_opener(max_redirect_hops: int) -> urllib.request.OpenerDirector:
    redirects = type(
        "_LimitedRedirects",
        (urllib.request.HTTPRedirectHandler,),
        {"max_redirections": max_redirect_hops},
    )
    return urllib.request.build_opener(redirects)


def _fetch(url: str, dest: str, *, max_redirect_hops: int, timeout: float, progress: bool) -> None:
    """Streams ``url`` into the new file ``dest``; raises OSError or HTTPException on failure."""
    opener = _build_opener(max_redirect_hops)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with opener.open(request, timeout=timeout) as response, open(dest, "xb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        received = 0
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=os.path.basename(urllib.parse.urlparse(url).path),
            disable=not progress,
        ) as bar:
            while chunk := response.read(_CHUNK_SIZE):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        # http.client reports a connection closed before Content-Length as a plain end of data.
        if total is not None and received < total:
            raise ConnectionError(f"the connection closed after {received} of {total} bytes")


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}"


def _discard(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def download_url(
    url: str,
    root: PathLike,
    filename: str | None = None,
    md5: str | None = None,
    max_redirect_hops: int = 3,
    *,
    timeout: float = 30.0,
    progress: bool = True,
) -> str:
    """Downloads a file into a folder, unless an intact copy is already there.

    The file is written to a temporary name in ``root``, checked against ``md5`` and only then
    moved into place, so a failed download never leaves a partial or corrupted file behind. If
    an ``https`` URL cannot be fetched, the same URL over ``http`` is tried once (the MD5 check
    still guards the content).

    Args:
        url: What to download.
        root: The folder to store it in (created if needed).
        filename: The name to store it under (default: the last part of the URL's path).
        md5: The expected hex MD5 of the file; ``None`` skips the check.
        max_redirect_hops: How many HTTP redirects to follow.
        timeout: Seconds to wait for the server before giving up.
        progress: Whether to show a progress bar.

    Returns:
        The path of the downloaded (or already present) file.

    Raises:
        RuntimeError: If the server cannot be reached or answers with an error (the message
            names the URL and where to place the file by hand), or if the downloaded file does
            not match ``md5``.

    Example:
        >>> from afnio.utils.datasets.utils import download_url
        >>> path = download_url(
        ...     "https://cogcomp.seas.upenn.edu/Data/QA/QC/TREC_10.label",
        ...     "data/TREC/raw",
        ...     md5="323a3554401d86e650717e2d2f942589",
        ... )  # doctest: +SKIP
    """
    root = os.path.expanduser(os.fspath(root))
    if not filename:
        filename = os.path.basename(urllib.parse.urlparse(url).path)
    fpath = os.path.join(root, filename)
    if check_integrity(fpath, md5):
        print(f"Using downloaded and verified file: {fpath}")
        return fpath

    os.makedirs(root, exist_ok=True)
    candidates = [url]
    if url.startswith("https://"):
        candidates.append("http://" + url[len("https://") :])
    tmp = os.path.join(root, f".{filename}.{uuid.uuid4().hex}.part")
    errors: list[str] = []
    try:
        for candidate in candidates:
            if errors:
                print("Failed download. Trying https -> http instead.")
            print(f"Downloading {candidate} to {fpath}")
            try:
                _fetch(
                    candidate,
                    tmp,
                    max_redirect_hops=max_redirect_hops,
                    timeout=timeout,
                    progress=progress,
                )
            except (OSError, http.client.HTTPException) as error:
                errors.append(f"{candidate}: {_describe(error)}")
                _discard(tmp)
                continue
            break
        else:
            raise RuntimeError(
                f"Could not download {url} ({'; '.join(errors)}). If you are offline or the "
                f"server is unreachable, download the file elsewhere and place it at {fpath}."
            )
        if md5 is not None:
            actual = calculate_md5(tmp)
            if actual != md5.lower():
                raise RuntimeError(
                    f"File not found or corrupted: {fpath}. The download from {candidate} has "
                    f"MD5 {actual}, expected {md5}; it was not kept."
                )
        os.replace(tmp, fpath)
    finally:
        _discard(tmp)
    return fpath
