import pytest

import afnio
from afnio.testing import LocalServer, ModelBackend, ScriptedModel, offline_or_real


@pytest.fixture
def no_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AFNIO_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_offline_without_key_or_base_url(no_env, capsys):
    script = ScriptedModel(default="scripted answer")
    with offline_or_real(script) as backend:
        assert backend.offline and backend.server is not None and backend.server.running
        assert backend.model == "gpt-4o-mini"
        reply = backend.client(sync=True).chat(
            messages=[{"role": "user", "content": "hi"}], model=backend.model
        )
        assert reply == "scripted answer"
        assert len(backend.server.requests) == 1
    assert not backend.server.running
    banner = capsys.readouterr().out
    assert "offline mode" in banner and "OPENAI_API_KEY" in banner


def test_online_with_base_url_only(no_env, monkeypatch):
    with LocalServer(ScriptedModel(default="from the 'real' endpoint")) as real:
        monkeypatch.setenv("OPENAI_BASE_URL", real.base_url)
        monkeypatch.setenv("AFNIO_MODEL", "llama3.2")
        backend = offline_or_real(ScriptedModel(default="never used"), banner=False)
        assert not backend.offline and backend.server is None
        assert backend.model == "llama3.2" and backend.base_url == real.base_url
        assert backend.client_args["api_key"]  # a placeholder key for keyless local servers
        client = backend.client()
        with pytest.warns(UserWarning, match="Cost is not computed for .*'llama3.2'"):
            answer = client.chat(messages=[{"role": "user", "content": "hi"}], model=backend.model)
        assert answer == "from the 'real' endpoint"
        assert real.requests[0].model == "llama3.2"


def test_online_with_key(no_env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-key-123")
    backend = offline_or_real(banner=False, model="gpt-4.1")
    assert not backend.offline and backend.base_url is None and backend.model == "gpt-4.1"
    assert backend.client_args == {"api_key": "sk-real-key-123"}
    assert "sk-real-key-123" not in repr(backend) and "sk-real" not in backend.describe()
    assert "api.openai.com" in backend.describe()


def test_backend_as_backward_client(no_env):
    with offline_or_real(ScriptedModel(default="feedback"), banner=False) as backend:
        backend.use_for_backward(temperature=0)
        client = afnio.get_backward_model_client()
        assert client._model == "gpt-4o-mini"
        assert client._completion_args == {"model": "gpt-4o-mini", "temperature": 0}


def test_html_banner_is_escaped():
    backend = ModelBackend(True, "<b>model</b>", "http://127.0.0.1:1/v1")
    assert "<b>model</b>" not in backend._repr_html_()
    assert "&lt;b&gt;model&lt;/b&gt;" in backend._repr_html_()
