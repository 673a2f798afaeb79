"""TrainingView: Trainer callback hooks, the data trait, usage."""

from __future__ import annotations

import afnio
from afnio.trainer import Callback, ParameterChange
from afnio_widgets import TrainingView
from afnio_widgets._training import metrics_to_dict


def test_it_is_a_trainer_callback_and_records_a_run(comm_of):
    view = TrainingView(track_calls=False)
    assert isinstance(view, Callback)
    c = comm_of(view)
    assert c.updates("data")[0]["status"] == "idle"

    class Agent:
        def named_parameters(self):
            return [("system_prompt", afnio.Variable("Be brief.", role="system prompt"))]

    class FakeTrainer:
        total_cost = 0.25

    agent, trainer = Agent(), FakeTrainer()
    view.on_fit_start(trainer, agent)
    view.on_train_epoch_start(trainer, agent, 1)
    view.on_optimizer_step(
        trainer, agent, [ParameterChange("system_prompt", "Be brief.", "Be brief and kind.")]
    )
    view.on_train_batch_end(trainer, agent, {"loss": 0.5, "accuracy": 0.5}, 0)
    view.on_train_batch_end(trainer, agent, None, 1)  # skipped batch
    view.on_validation_end(trainer, agent, {"loss": 0.25})
    view.on_train_epoch_end(
        trainer, agent, {"epoch": 1, "train": {"loss": 0.5}, "val": {"loss": 0.25}, "cost": 0.25}
    )
    view.on_fit_end(trainer, agent)

    data = view.data
    assert data["status"] == "done"
    assert [s["metrics"] for s in data["steps"]] == [{"loss": 0.5, "accuracy": 0.5}]
    assert data["validation"][0]["metrics"] == {"loss": 0.25}
    assert data["epochs"] == [
        {"epoch": 1, "metrics": {"loss": 0.5, "val_loss": 0.25, "cost": 0.25}}
    ]
    assert [v["text"] for v in data["parameters"]["system_prompt"]] == [
        "Be brief.",
        "Be brief and kind.",
    ]
    assert data["usage"]["cost"] == 0.25
    assert c.updates("data")[-1] == data  # on_fit_end published everything
    view.close()


def test_usage_from_graph_calls_and_clients():
    view = TrainingView()
    view.log_call(
        {"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "cost": 0.5}
    )
    view.log_call({"usage": {"total_tokens": 1}, "cost": None})
    view.flush()
    usage = view.data["usage"]
    assert (usage["total_tokens"], usage["cost"], usage["calls"]) == (6, 0.5, 2)
    view.close()

    class Client:
        def __init__(self):
            self.usage = {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
                "cost": {"amount": 1.0, "currency": "USD"},
            }

        def get_usage(self):
            return dict(self.usage)

    client = Client()
    view = TrainingView([client])
    view.on_fit_start(None, None)
    client.usage = {**client.usage, "total_tokens": 40, "cost": {"amount": 1.5, "currency": "USD"}}
    view.on_train_batch_end(None, None, {"loss": 1.0}, 0)
    view.flush()
    usage = view.data["usage"]
    assert (usage["total_tokens"], usage["cost"]) == (25, 0.5)
    view.close()


def test_metrics_to_dict_keeps_numbers():
    assert metrics_to_dict({"loss": afnio.Variable(0.5), "note": "x", "ok": True}) == {
        "loss": 0.5,
        "ok": 1.0,
    }
    assert metrics_to_dict(0.3) == {"value": 0.3}


def test_unchanged_parameter_values_are_skipped():
    view = TrainingView(track_calls=False)
    for text in ("a", "a", "b", "b"):
        view.log_parameter("p", text)
    view.flush()
    assert [v["text"] for v in view.data["parameters"]["p"]] == ["a", "b"]
    view.close()


def test_a_run_logged_with_tellurio_reopens_from_its_folder(tmp_path):
    from afnio import tellurio

    with tellurio.init("me", "Sentiment", name="baseline", root=tmp_path) as run:
        for step, (loss, accuracy) in enumerate([(1.0, 0.5), (0.5, 0.75)]):
            run.log("loss", loss, step=step)
            run.log("accuracy", accuracy, step=step)
    view = TrainingView.from_run(run.path)
    assert [s["metrics"] for s in view.data["steps"]] == [
        {"loss": 1.0, "accuracy": 0.5},
        {"loss": 0.5, "accuracy": 0.75},
    ]
    assert view.data["status"] == "done" and view.title == "Sentiment · baseline"
    view.close()


def test_a_view_follows_a_run_while_it_logs(tmp_path):
    from afnio import tellurio

    with tellurio.init("me", "Sentiment", name="live", root=tmp_path) as run:
        run.log("loss", 1.0, step=0)  # before the view: read from the folder
        view = TrainingView(track_calls=False)
        view.follow_run()  # the active run
        run.log("loss", 0.5, step=1)
        run.log("accuracy", 0.75, step=1)
        with tellurio.init("me", "Other", name="elsewhere", root=tmp_path) as other:
            other.log("loss", 99.0, step=0)  # another run: not shown
        view.flush()
        assert [s["metrics"] for s in view.data["steps"]] == [
            {"loss": 1.0},
            {"loss": 0.5, "accuracy": 0.75},
        ]
        assert view.data["status"] == "running"
    view.close()
    run_after_close = tellurio.init("me", "Sentiment", name="after", root=tmp_path)
    run_after_close.log("loss", 3.0)
    run_after_close.finish()
    assert len(view.data["steps"]) == 2


def test_a_closed_view_stops_following_its_run(tmp_path):
    from afnio import tellurio

    with tellurio.init("me", "Sentiment", name="closed", root=tmp_path) as run:
        view = TrainingView(track_calls=False)
        view.follow_run(run)
        run.log("loss", 1.0, step=0)
        view.close()
        run.log("loss", 0.5, step=1)  # no longer observed
        view.flush()
    assert [s["metrics"] for s in view.data["steps"]] == [{"loss": 1.0}]


def test_following_with_no_active_run_says_so():
    import pytest

    from afnio import tellurio

    if tellurio.get_active_run() is not None:  # pragma: no cover - left by another test
        tellurio.get_active_run().finish()
    view = TrainingView(track_calls=False)
    with pytest.raises(RuntimeError, match="No afnio.tellurio run to follow"):
        view.follow_run()
    view.close()
