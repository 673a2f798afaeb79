"""afnio.tellurio: afnio 0.3.7's imports run unchanged, and runs are folders on disk."""

import json
import threading

import pytest

import afnio
from afnio import tellurio
from afnio.autodiff.graph import register_graph_observer
from afnio.tellurio.run import get_active_run


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFNIO_RUNS_DIR", raising=False)
    yield
    run = get_active_run()
    if run is not None:
        run.finish()


def test_the_imports_of_afnio_0_3_7_work():
    from afnio.tellurio import init, log, login, suppress_variable_notifications

    assert callable(init) and callable(log) and callable(login)
    with suppress_variable_notifications():
        pass


def test_login_needs_no_account_and_says_so_once(capsys):
    import afnio.tellurio.account as login_module

    login_module._said.clear()
    first = tellurio.login()
    second = tellurio.login(api_key="ignored", relogin=True)
    assert set(first) == {"email", "username", "session_id"} and first == second
    err = capsys.readouterr().err
    assert err.count("afnio runs locally") == 1


def test_init_makes_a_run_folder_under_runs(tmp_path):
    run = tellurio.init("my-team", "Sentiment Classifier", name="baseline", description="v1")
    assert run.path == tmp_path / "runs" / "my-team" / "sentiment-classifier" / "baseline"
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["format"] == "afnio-run/1"
    assert meta["status"] == "RUNNING" and meta["name"] == "baseline"
    assert meta["description"] == "v1" and meta["project_display_name"] == "Sentiment Classifier"
    assert tellurio.get_active_run() is run
    tellurio.log("accuracy", 0.5)
    run.log("accuracy", 0.75)
    run.log("loss", 2, step=10)
    run.finish()
    lines = (run.path / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [(r["name"], r["value"], r["step"]) for r in rows] == [
        ("accuracy", 0.5, 0),
        ("accuracy", 0.75, 1),
        ("loss", 2, 10),
    ]
    assert all(set(r) == {"name", "value", "step", "time"} for r in rows)
    assert json.loads((run.path / "run.json").read_text())["status"] == "COMPLETED"
    assert tellurio.get_active_run() is None


def test_a_run_is_a_context_manager_that_records_a_crash():
    with pytest.raises(KeyError), tellurio.init("me", "P", name="bad") as run:
        raise KeyError("boom")
    assert run.status is tellurio.RunStatus.CRASHED
    assert tellurio.read_run(run.path).metadata["status"] == "CRASHED"
    run.finish()  # finishing again changes nothing
    assert run.status is tellurio.RunStatus.CRASHED
    with pytest.raises(RuntimeError, match="is CRASHED"):
        run.log("x", 1)


def test_log_without_a_run_starts_one(tmp_path):
    assert tellurio.get_active_run() is None
    tellurio.log("score", 3)
    run = tellurio.get_active_run()
    assert run is not None and run.path.parent == tmp_path / "runs" / "local" / "afnio"
    assert [m.value for m in tellurio.read_run(run.path).metrics] == [3]


def test_a_new_run_fails_the_unfinished_one_and_names_never_collide():
    first = tellurio.init("me", "P", name="same")
    second = tellurio.init("me", "P", name="same")
    assert first.status is tellurio.RunStatus.FAILED
    assert second.name == "same-2" and second.path.name == "same-2"
    assert tellurio.read_run(first.path).metadata["status"] == "FAILED"


def test_the_runs_folder_can_be_configured(tmp_path, monkeypatch):
    run = tellurio.init("me", "P", name="a", root=tmp_path / "elsewhere")
    assert run.path == tmp_path / "elsewhere" / "me" / "p" / "a"
    monkeypatch.setenv("AFNIO_RUNS_DIR", str(tmp_path / "env"))
    run = tellurio.init("me", "P", name="b")
    assert run.path == tmp_path / "env" / "me" / "p" / "b"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "../escape"}, ValueError, "cannot name a run folder"),
        ({"name": ".hidden"}, ValueError, "cannot name a run folder"),
        ({"name": ""}, TypeError, "`name` must be a non-empty str"),
        ({"project_display_name": "!!!"}, ValueError, "at least one letter or digit"),
        ({"namespace_slug": 3}, TypeError, "`namespace_slug` must be a non-empty str"),
    ],
)
def test_init_rejects_bad_names(kwargs, error, match, tmp_path):
    args = {"namespace_slug": "me", "project_display_name": "P", **kwargs}
    with pytest.raises(error, match=match):
        tellurio.init(**args)
    assert not (tmp_path / "runs" / "..").resolve().joinpath("escape").exists()


def test_log_checks_values():
    run = tellurio.init("me", "P", name="v")
    with pytest.raises(TypeError, match="metric 'acc' must be a number"):
        run.log("acc", "high")
    with pytest.raises(ValueError, match="must be finite"):
        run.log("acc", float("nan"))
    with pytest.raises(TypeError, match="`step` must be an int"):
        run.log("acc", 1, step=1.5)
    run.log("acc", afnio.Variable(0.9))  # a Variable holding a number is fine
    assert [m.value for m in tellurio.read_run(run.path).metrics] == [0.9]


def test_concurrent_logs_are_whole_lines():
    run = tellurio.init("me", "P", name="threads")

    def work(k):
        for i in range(50):
            run.log(f"m{k}", i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metrics = tellurio.read_run(run.path).metrics
    assert len(metrics) == 200
    for k in range(4):
        assert [m.step for m in metrics if m.name == f"m{k}"] == list(range(50))


def test_the_reader_follows_a_run_and_skips_a_line_being_written(tmp_path):
    run = tellurio.init("me", "P", name="live")
    run.log("loss", 1.0)
    path = run.path / "metrics.jsonl"
    metrics, offset = tellurio.read_metrics(path)
    assert [m.value for m in metrics] == [1.0]
    run.log("loss", 0.5)
    with open(path, "ab") as f:  # a write cut short: no newline yet
        f.write(b'{"name": "loss", "val')
    metrics, offset2 = tellurio.read_metrics(path, offset)
    assert [m.value for m in metrics] == [0.5] and offset2 > offset
    assert tellurio.read_metrics(path, offset2) == ([], offset2)
    assert tellurio.read_metrics(tmp_path / "missing.jsonl") == ([], 0)


def test_the_reader_names_a_bad_line_and_a_folder_that_is_no_run(tmp_path):
    run = tellurio.init("me", "P", name="broken")
    (run.path / "metrics.jsonl").write_text('{"name": "a"}\n')
    with pytest.raises(ValueError, match="line 1 .* is not a metric"):
        tellurio.read_run(run.path)
    with pytest.raises(FileNotFoundError, match="has no run.json"):
        tellurio.read_run(tmp_path)


def test_log_observers_see_every_value():
    seen = []
    with tellurio.register_log_observer(lambda run, m: seen.append((run.name, m.name, m.value))):
        run = tellurio.init("me", "P", name="obs")
        run.log("a", 1)
    run.log("a", 2)
    assert seen == [("obs", "a", 1)]


def test_suppress_variable_notifications_hides_graph_events():
    kinds = []
    with register_graph_observer(lambda e: kinds.append(e.kind)):
        x = afnio.Variable("a", role="x", requires_grad=True)
        with tellurio.suppress_variable_notifications():
            y = x + afnio.Variable("b")
            y.backward(afnio.Variable("shorter"))
        assert kinds == []
        z = x + afnio.Variable("c")
        z.backward(afnio.Variable("longer"))
    assert kinds[0] == "node_created" and "backward_finished" in kinds
    assert len(x.grad) == 2  # the work itself was not suppressed
