"""``python -m afnio.testing.server``: starts, answers, and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def environment(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    python_path = [str(path) for path in (*paths, REPO_ROOT)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    return env


class Cli:
    """A server process started from the command line (processes start in parallel; the base
    URL is read when first needed)."""

    def __init__(
        self, *args: str, module: str = "afnio.testing.server", paths: tuple[Path, ...] = ()
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(*paths),
        )
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            assert self.process.stdout is not None
            self._base_url = self.process.stdout.readline().strip()
        return self._base_url

    def client(self, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key="sk-anything", **options)

    def stop(self, signum: int) -> tuple[int, str]:
        _ = self.base_url  # a signal before the handlers are installed would not be clean
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=10)
        return self.process.returncode, stderr


@pytest.fixture
def cli() -> Iterator[type[Cli]]:
    started: list[Cli] = []

    class Tracked(Cli):
        def __init__(self, *args: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    yield Tracked
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate(timeout=10)


def ask(client: openai.OpenAI, text: str) -> str | None:
    messages: Any = [{"role": "user", "content": text}]
    return client.chat.completions.create(model="m", messages=messages).choices[0].message.content


def test_cli_serves_until_signalled(cli: type[Cli]) -> None:
    servers = {signal.SIGINT: cli("--latency", "0.001,0.01"), signal.SIGTERM: cli()}
    for signum, server in servers.items():
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        with server.client() as client:
            assert ask(client, "hello") == "[scripted] hello"
            assert [model.id for model in client.models.list().data]
        returncode, stderr = server.stop(signum)
        assert returncode == 0
        assert "Traceback" not in stderr
        assert "found in sys.modules" not in stderr  # runpy warns if the module loads twice


def test_cli_loads_a_script(cli: type[Cli], tmp_path: Path) -> None:
    (tmp_path / "demo_script.py").write_text(
        "from afnio.testing import ScriptedModel\n"
        "model = ScriptedModel()\n"
        "model.when(user='ping').reply('pong')\n"
        "class Holder:\n"
        "    @staticmethod\n"
        "    def echo(request):\n"
        "        return request.user.upper()\n"
    )
    rules = cli("--script", "demo_script:model", paths=(tmp_path,))
    function = cli("--script", "demo_script:Holder.echo", module="afnio.testing", paths=(tmp_path,))
    with rules.client() as client:
        assert ask(client, "ping") == "pong"
        assert ask(client, "other") == "[scripted] other"
    with function.client() as client:
        assert ask(client, "shout") == "SHOUT"
    assert rules.stop(signal.SIGTERM)[0] == 0
    assert function.stop(signal.SIGINT)[0] == 0


def test_cli_injects_faults(cli: type[Cli]) -> None:
    server = cli("--fault-rate", "1", "--fault-kinds", "500")
    with server.client(max_retries=0) as client, pytest.raises(openai.InternalServerError):
        ask(client, "hello")
    assert server.stop(signal.SIGTERM)[0] == 0


def test_cli_checks_keys_and_model_names_when_asked(cli: type[Cli]) -> None:
    server = cli("--check-api-key", "--known-models-only", "--models", "llama3.2")
    with server.client(max_retries=0) as client, pytest.raises(openai.AuthenticationError):
        ask(client, "hello")
    key = openai.OpenAI(base_url=server.base_url, api_key="sk-local-test", max_retries=0)
    with key, pytest.raises(openai.NotFoundError):
        key.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert server.stop(signal.SIGTERM)[0] == 0


def test_cli_reports_bad_arguments() -> None:
    cases = {
        "No module named": ["--script", "no_such_module_here:model"],
        "module:attribute": ["--script", "missing-colon"],
        "unknown fault kind": ["--fault-rate", "0.5", "--fault-kinds", "teapot"],
        "latency must be": ["--latency", "-1"],
    }
    processes = {
        message: subprocess.Popen(
            [sys.executable, "-m", "afnio.testing.server", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        for message, args in cases.items()
    }
    for message, process in processes.items():
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 2, stderr
        assert message in stderr
        assert stdout == ""
