import hashlib
import os
from pathlib import Path

import pytest

from afnio.utils.datasets.utils import (
    calculate_md5,
    check_integrity,
    check_md5,
    download_url,
)

BODY = b"question\tlabel\n" * 5000  # big enough for several chunks
MD5 = hashlib.md5(BODY).hexdigest()


def _files(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_md5_helpers(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(BODY)
    assert calculate_md5(path) == MD5
    assert calculate_md5(path, chunk_size=7) == MD5
    assert check_md5(path, MD5)
    assert check_md5(str(path), MD5.upper())
    assert not check_md5(path, "0" * 32)
    assert check_integrity(path)
    assert check_integrity(path, MD5)
    assert not check_integrity(path, "0" * 32)
    assert not check_integrity(tmp_path / "missing", None)
    assert not check_integrity(tmp_path, None)  # a folder is not a file


def test_download_writes_the_file_and_sends_our_user_agent(file_server, tmp_path, capsys):
    url = file_server.serve("/data/f.txt", BODY)
    root = tmp_path / "raw"
    path = download_url(url, root, md5=MD5, progress=False)
    assert path == os.path.join(root, "f.txt")
    assert Path(path).read_bytes() == BODY
    assert _files(root) == ["f.txt"]
    [(_, headers)] = file_server.requests
    assert headers["User-Agent"] == "afnio"
    assert f"Downloading {url}" in capsys.readouterr().out


def test_an_intact_file_is_not_downloaded_again(file_server, tmp_path, capsys):
    url = file_server.serve("/f.txt", BODY)
    download_url(url, tmp_path, md5=MD5, progress=False)
    capsys.readouterr()
    path = download_url(url, tmp_path, md5=MD5, progress=False)
    assert len(file_server.requests) == 1
    assert capsys.readouterr().out == f"Using downloaded and verified file: {path}\n"


def test_custom_filename_and_a_corrupted_copy_is_replaced(file_server, tmp_path):
    url = file_server.serve("/f.txt", BODY)
    (tmp_path / "renamed.txt").write_bytes(b"garbage")
    path = download_url(url, tmp_path, filename="renamed.txt", md5=MD5, progress=False)
    assert path == str(tmp_path / "renamed.txt")
    assert Path(path).read_bytes() == BODY
    assert _files(tmp_path) == ["renamed.txt"]


def test_md5_mismatch_keeps_nothing(file_server, tmp_path):
    url = file_server.serve("/f.txt", b"not what we expected")
    root = tmp_path / "raw"
    with pytest.raises(RuntimeError, match=r"^File not found or corrupted: ") as info:
        download_url(url, root, md5=MD5, progress=False)
    assert os.path.join(root, "f.txt") in str(info.value)
    assert MD5 in str(info.value)
    assert _files(root) == []


def test_http_errors_name_the_url_and_keep_nothing(file_server, tmp_path):
    url = file_server.url + "/missing.json"
    with pytest.raises(RuntimeError) as info:
        download_url(url, tmp_path, progress=False)
    message = str(info.value)
    assert url in message and "HTTP 404" in message
    assert f"place it at {tmp_path / 'missing.json'}" in message
    assert _files(tmp_path) == []


def test_server_errors_are_reported(file_server, tmp_path):
    url = file_server.serve("/f.txt", status=503)
    with pytest.raises(RuntimeError, match="HTTP 503"):
        download_url(url, tmp_path, progress=False)
    assert _files(tmp_path) == []


def test_unreachable_server(refused_url, tmp_path):
    url = refused_url + "/f.txt"
    with pytest.raises(RuntimeError, match="If you are offline") as info:
        download_url(url, tmp_path, md5=MD5, progress=False)
    assert url in str(info.value)
    assert "refused" in str(info.value).lower()
    assert _files(tmp_path) == []


@pytest.mark.parametrize("md5", [None, MD5])
def test_an_interrupted_transfer_leaves_no_partial_file(file_server, tmp_path, md5):
    url = file_server.serve("/f.txt", BODY, truncate=True)
    with pytest.raises(RuntimeError, match=rf"connection closed after \d+ of {len(BODY)} bytes"):
        download_url(url, tmp_path, md5=md5, progress=False)
    assert _files(tmp_path) == []


def test_redirects_are_followed_up_to_the_limit(file_server, tmp_path):
    file_server.serve("/real.txt", BODY)
    file_server.serve("/hop1", location="/real.txt")
    file_server.serve("/hop2", location="/hop1")
    path = download_url(file_server.url + "/hop2", tmp_path, "f.txt", MD5, progress=False)
    assert Path(path).read_bytes() == BODY
    with pytest.raises(RuntimeError, match="HTTP 302"):
        download_url(
            file_server.url + "/hop2", tmp_path, "g.txt", MD5, max_redirect_hops=1, progress=False
        )
    assert _files(tmp_path) == ["f.txt"]


def test_https_falls_back_to_http(file_server, tmp_path, capsys):
    # The local server speaks plain HTTP, so the TLS handshake fails and http:// is tried.
    file_server.serve("/f.txt", BODY)
    url = file_server.url.replace("http://", "https://") + "/f.txt"
    path = download_url(url, tmp_path, md5=MD5, progress=False)
    assert Path(path).read_bytes() == BODY
    assert "Trying https -> http instead." in capsys.readouterr().out


def test_https_and_http_both_failing_lists_both(refused_url, tmp_path):
    url = refused_url.replace("http://", "https://") + "/f.txt"
    with pytest.raises(RuntimeError) as info:
        download_url(url, tmp_path, progress=False)
    assert url in str(info.value)
    assert refused_url + "/f.txt" in str(info.value)


def test_progress_bar_can_be_shown_or_hidden(file_server, tmp_path, capsys):
    url = file_server.serve("/f.txt", BODY)
    download_url(url, tmp_path / "a", md5=MD5, progress=True)
    assert "f.txt" in capsys.readouterr().err
    download_url(url, tmp_path / "b", md5=MD5, progress=False)
    assert capsys.readouterr().err == ""


def test_nothing_is_written_at_import_time(tmp_path):
    import subprocess
    import sys

    code = "import afnio.utils, afnio.utils.data, afnio.utils.datasets"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert _files(tmp_path) == []
