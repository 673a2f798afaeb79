"""The SQLite response cache: keys, hits and misses, usage on hits, and two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from afnio.models import ResponseCache
from afnio.models.cache import request_key
from afnio.testing import Reply

PING = [{"role": "user", "content": "ping"}]


def test_request_key_is_canonical_and_complete():
    base = request_key("openai", "gpt-4o", PING, {"temperature": 0, "seed": 1})
    assert len(base) == 64
    assert base == request_key("openai", "gpt-4o", PING, {"seed": 1, "temperature": 0})
    # Every argument that can change the reply changes the key.
    for other in (
        request_key("openai", "gpt-4o-mini", PING, {"temperature": 0, "seed": 1}),
        request_key("openai", "gpt-4o", PING, {"temperature": 0.5, "seed": 1}),
        request_key("openai", "gpt-4o", PING, {"temperature": 0, "seed": 2}),
        request_key("openai", "gpt-4o", PING, {"temperature": 0, "seed": 1, "top_p": 0.9}),
        request_key("openai", "gpt-4o", [{"role": "user", "content": "pong"}], {}),
        request_key("openai", "gpt-4o", PING, {"temperature": 0, "seed": 1}, salt="run 2"),
    ):
        assert other != base
    # Transport-only arguments do not.
    assert base == request_key(
        "openai", "gpt-4o", PING, {"temperature": 0, "seed": 1, "timeout": 5}
    )


def test_key_is_stable_across_processes():
    code = textwrap.dedent(
        """
        from afnio.models.cache import request_key
        print(request_key("openai", "gpt-4o", [{"role": "user", "content": "ping"}], {"seed": 1}))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different str hash() than ours
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert out == request_key("openai", "gpt-4o", PING, {"seed": 1})


def test_cache_hit_skips_the_server_and_adds_no_usage(local_server, make_client, tmp_path):
    local_server.script.when(user="ping").reply(
        Reply("pong", usage={"prompt_tokens": 100, "completion_tokens": 10})
    )
    client = make_client(cache=tmp_path / "cache.sqlite")
    assert client.chat(messages=PING, model="gpt-4o", temperature=0) == "pong"
    usage = client.get_usage()
    assert client.chat(messages=PING, model="gpt-4o", temperature=0) == "pong"
    assert len(local_server.requests) == 1
    assert client.get_usage() == usage
    hit = client.calls[-1]
    assert hit.cache_hit and hit.cost == 0.0 and hit.usage == {} and hit.response == "pong"
    assert client.cache.hits == 1 and client.cache.misses == 1
    # Another sampling argument is another request.
    client.chat(messages=PING, model="gpt-4o", temperature=1)
    assert len(local_server.requests) == 2


def test_cache_salt_forces_fresh_samples(local_server, make_client, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    make_client(cache=cache).chat(messages=PING, model="gpt-4o")
    make_client(cache=cache, cache_salt="rollout 2").chat(messages=PING, model="gpt-4o")
    assert len(local_server.requests) == 2
    make_client(cache=cache, cache_salt="rollout 2").chat(messages=PING, model="gpt-4o")
    assert len(local_server.requests) == 2


def test_failed_calls_are_not_cached(local_server, make_client, tmp_path):
    local_server.inject("500", times=10)
    client = make_client(cache=tmp_path / "c.sqlite", max_retries=0)
    with pytest.raises(RuntimeError):
        client.chat(messages=PING, model="gpt-4o")
    assert len(client.cache) == 0


def test_cache_is_shared_between_two_processes(local_server, tmp_path):
    local_server.script.when(user="ping").reply("pong")
    path = tmp_path / "shared.sqlite"
    code = textwrap.dedent(
        f"""
        import json
        from afnio.models import OpenAI
        client = OpenAI(base_url={local_server.base_url!r}, api_key="k", cache={str(path)!r})
        text = client.chat(messages=[{{"role": "user", "content": "ping"}}], model="gpt-4o",
                           temperature=0)
        print(json.dumps({{"text": text, "hit": client.calls[-1].cache_hit}}))
        """
    )
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs == [{"text": "pong", "hit": False}, {"text": "pong", "hit": True}]
    assert len(local_server.requests) == 1


def test_processes_opening_a_new_cache_at_once_all_write(tmp_path):
    # Four processes open the same new file at the same moment (a start time they wait for):
    # SQLite refuses the switch to write-ahead logging while another process sets the file up,
    # without waiting its busy timeout; the cache must wait and try again, not fail.
    code = textwrap.dedent(
        """
        import sys, time
        from afnio.models import ResponseCache
        start = float(sys.argv[3])
        while time.time() < start:
            pass
        cache = ResponseCache(sys.argv[2])
        for i in range(50):
            cache.put(f"{sys.argv[1]}-{i}", "x" * 100, {"total_tokens": i})
        """
    )
    names = ("a", "b", "c", "d")
    for round_ in range(3):
        path = tmp_path / f"busy-{round_}.sqlite"
        start = time.time() + 1.0  # after every interpreter has started and imported afnio
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, name, str(path), repr(start)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * len(names), errors
        cache = ResponseCache(path)
        assert len(cache) == 50 * len(names)
        assert cache.get("d-49") == ("x" * 100, {"total_tokens": 49})
        cache.close()


def test_nothing_is_written_before_use(tmp_path):
    cache = ResponseCache(tmp_path / "sub" / "never.sqlite")
    assert not (tmp_path / "sub").exists()
    repr(cache)
    assert not (tmp_path / "sub").exists()
