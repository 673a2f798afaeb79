"""Trainer: arguments and their errors, the training loop, metrics, retries, callbacks, costs,
progress, the metrics log and validate/test (with a toy agent that makes no model calls)."""

from __future__ import annotations

import doctest
import importlib
import json
import logging
import os

import pytest
from trainer_toys import LABELS, CostlyModel, EchoAgent, make_loader

from afnio import Variable
from afnio.cognitive import Module
from afnio.trainer import Callback, ParameterChange, Trainer, get_batch_size
from afnio.trainer.trainer import STEP_MAX_RETRIES


def quiet(tmp_path, **kwargs) -> Trainer:
    options = dict(
        enable_progress_bar=False,
        enable_agent_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    options.update(kwargs)
    return Trainer(**options)


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_fit_start(self, trainer, agent):
        self.events.append(("fit_start",))

    def on_fit_end(self, trainer, agent):
        self.events.append(("fit_end",))

    def on_train_epoch_start(self, trainer, agent, epoch):
        self.events.append(("epoch_start", epoch))

    def on_optimizer_step(self, trainer, agent, changes):
        self.events.append(("optimizer_step", list(changes)))

    def on_train_batch_end(self, trainer, agent, metrics, batch_idx):
        self.events.append(("batch_end", batch_idx, metrics))

    def on_validation_end(self, trainer, agent, metrics):
        self.events.append(("validation_end", metrics))

    def on_train_epoch_end(self, trainer, agent, metrics):
        self.events.append(("epoch_end", metrics["epoch"]))

    def on_test_end(self, trainer, agent, metrics):
        self.events.append(("test_end", metrics))


# -- construction ----------------------------------------------------------------------------
def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    trainer = Trainer()
    assert trainer.max_epochs == 10
    assert trainer.enable_checkpointing and trainer.enable_progress_bar
    assert trainer.enable_agent_summary and trainer.enable_metrics_log
    assert trainer.default_root_dir == os.getcwd()
    assert trainer.total_cost == 0.0 and trainer.current_epoch == 0 and trainer.global_step == 0
    assert trainer.callbacks == [] and trainer.last_checkpoint_path is None
    assert Trainer(max_epochs=0).max_epochs == 10
    assert Trainer(default_root_dir=tmp_path).default_root_dir == str(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written on construction


def test_constructor_errors():
    with pytest.raises(TypeError):
        Trainer(3)  # keyword-only
    with pytest.raises(TypeError, match="`max_epochs` must be an int"):
        Trainer(max_epochs=2.5)
    with pytest.raises(ValueError, match="`max_epochs` must be >= 0"):
        Trainer(max_epochs=-1)
    with pytest.raises(TypeError, match="Every callback must be an afnio.trainer.Callback"):
        Trainer(callbacks=[object()])


# -- fit argument checks ---------------------------------------------------------------------
def test_fit_argument_errors(tmp_path, loader):
    trainer = quiet(tmp_path)
    with pytest.raises(TypeError, match="`agent` must be an afnio.cognitive.Module"):
        trainer.fit(object(), loader)
    with pytest.raises(ValueError, match="train_dataloader must be provided."):
        trainer.fit(EchoAgent())
    with pytest.raises(TypeError, match="`train_dataloader` must be a DataLoader"):
        trainer.fit(EchoAgent(), 3)
    with pytest.raises(TypeError, match="`val_dataloader` must be a DataLoader"):
        trainer.fit(EchoAgent(), loader, 3)
    with pytest.raises(TypeError, match="`ckpt_path` must be a str or os.PathLike"):
        trainer.fit(EchoAgent(), loader, ckpt_path=3)
    with pytest.raises(TypeError, match="`llm_clients` must be a list"):
        trainer.fit(EchoAgent(), loader, llm_clients=3)
    with pytest.raises(TypeError, match="must be a model client with get_usage"):
        trainer.fit(EchoAgent(), loader, llm_clients=["gpt-4o"])


def test_missing_hooks(tmp_path, loader):
    class NoTraining(Module):
        def configure_optimizers(self):
            return None

    class NoOptimizers(Module):
        def training_step(self, batch, batch_idx):
            return None

    class NoValidation(NoOptimizers):
        def configure_optimizers(self):
            return None

    trainer = quiet(tmp_path)
    with pytest.raises(AttributeError, match=r"Your agent must implement training_step\(\)."):
        trainer.fit(NoTraining(), loader)
    with pytest.raises(AttributeError, match=r"must implement configure_optimizers\(\)."):
        trainer.fit(NoOptimizers(), loader)
    with pytest.raises(AttributeError, match=r"must implement validation_step\(\)."):
        trainer.fit(NoValidation(), loader, loader)
    with pytest.raises(TypeError, match="configure_optimizers\\(\\) must return an afnio.optim"):
        trainer.fit(NoValidation(), loader)


# -- the loop --------------------------------------------------------------------------------
def test_fit_trains_validates_and_returns_history(tmp_path):
    agent = EchoAgent()
    trainer = quiet(tmp_path, max_epochs=2)
    result = trainer.fit(agent, make_loader(), make_loader(seed=None))
    assert set(result) == {"epochs", "train", "val", "total_cost", "global_step", "last_checkpoint"}
    first, second = result["epochs"]
    assert first == {
        "epoch": 1,
        "train": {"loss": 0.75, "accuracy": 0.375},
        "val": {"loss": 1.0, "accuracy": 0.5},
        "cost": 0.0,
        "batches": 4,
        "skipped_batches": 0,
    }
    assert second["epoch"] == 2 and result["train"] == second["train"]
    assert result["val"] == second["val"] and result["global_step"] == 8
    assert trainer.history == result["epochs"] and trainer.current_epoch == 2
    # training in train mode with grad enabled; validation in eval mode under no_grad
    assert {entry[2] for entry in agent.log if entry[0] == "train"} == {True}
    assert {(entry[2], entry[3]) for entry in agent.log if entry[0] == "val"} == {(False, False)}
    assert agent.optimizers() is not None
    assert agent.answer.requires_grad  # loading/training never flips requires_grad


def test_step_returning_tuple(tmp_path, loader):
    class TupleAgent(EchoAgent):
        def training_step(self, batch, batch_idx):
            return self._evaluate(batch)["loss"]

    result = quiet(tmp_path, max_epochs=1).fit(TupleAgent(), loader)
    assert list(result["train"]) == ["loss"]


def test_none_skips_the_batch(tmp_path, loader):
    class Skipper(EchoAgent):
        def training_step(self, batch, batch_idx):
            if batch_idx == 1:
                return None
            return super().training_step(batch, batch_idx)

    recorder = Recorder()
    agent = Skipper()
    result = quiet(tmp_path, max_epochs=1, callbacks=[recorder]).fit(agent, loader)
    epoch = result["epochs"][0]
    assert epoch["batches"] == 3 and epoch["skipped_batches"] == 1
    assert ("batch_end", 1, None) in recorder.events
    optimizer_steps = [e for e in recorder.events if e[0] == "optimizer_step"]
    assert len(optimizer_steps) == 3


@pytest.mark.parametrize(
    "output, error, match",
    [
        ("text", ValueError, r"training_step\(\) must return either a tuple of Variables"),
        ({"score": 1}, ValueError, "without a 'loss' key"),
        ({"loss": Variable(1)}, ValueError, "must be a tuple \\(score, explanation\\)"),
        ((1, 2), TypeError, "Both score and explanation must be afnio.Variable"),
        (
            {"loss": (Variable(1), Variable("e")), "extra": "text"},
            TypeError,
            "Metric 'extra' must be a number",
        ),
        ((Variable(1), Variable("e")), ValueError, "does not require grad"),
    ],
)
def test_bad_step_outputs_are_not_retried(tmp_path, loader, output, error, match):
    calls = []

    class Bad(EchoAgent):
        def training_step(self, batch, batch_idx):
            calls.append(batch_idx)
            return output

    with pytest.raises(error, match=match):
        quiet(tmp_path, max_epochs=1).fit(Bad(), loader)
    assert calls == [0]


def test_empty_batch(tmp_path):
    with pytest.raises(ValueError, match=r"Batch is empty \(size 0\)"):
        quiet(tmp_path, max_epochs=1).fit(EchoAgent(), [[]])


# -- retries ---------------------------------------------------------------------------------
def test_transient_failures_are_retried(tmp_path, loader, caplog):
    failures = {"left": 2}

    class Flaky(EchoAgent):
        def training_step(self, batch, batch_idx):
            if batch_idx == 0 and failures["left"]:
                failures["left"] -= 1
                raise ConnectionError("flaky network")
            return super().training_step(batch, batch_idx)

    with caplog.at_level(logging.WARNING, logger="afnio.trainer"):
        result = quiet(tmp_path, max_epochs=1).fit(Flaky(), loader)
    assert result["epochs"][0]["batches"] == 4
    warnings = [r for r in caplog.records if r.name == "afnio.trainer"]
    assert len(warnings) == 2 and "attempt 1 of 3" in warnings[0].getMessage()


def test_forward_failing_three_times(tmp_path, loader):
    calls = []

    class Broken(EchoAgent):
        def training_step(self, batch, batch_idx):
            calls.append(batch_idx)
            raise KeyError("boom")

    with pytest.raises(
        RuntimeError, match=r"^Forward pass in training_step\(\) failed after 3 retries: "
    ) as info:
        quiet(tmp_path, max_epochs=1).fit(Broken(), loader)
    assert isinstance(info.value.__cause__, KeyError)
    assert calls == [0] * STEP_MAX_RETRIES


def test_step_failing_three_times_restores_parameters(tmp_path, loader):
    class BrokenOptimizer(EchoAgent):
        def configure_optimizers(self):
            optimizer = super().configure_optimizers()
            original = optimizer.step

            def step(closure=None):
                original()  # changes the parameter, then fails
                raise RuntimeError("optimizer model unavailable")

            optimizer.step = step
            return optimizer

    agent = BrokenOptimizer()
    with pytest.raises(
        RuntimeError,
        match=r"training_step\(\) failed after 3 retries: optimizer model unavailable",
    ):
        quiet(tmp_path, max_epochs=1).fit(agent, loader)
    assert agent.answer.data == "a"


def test_validation_failing_three_times(tmp_path, loader):
    class BadVal(EchoAgent):
        def validation_step(self, batch, batch_idx):
            raise ValueError("judge down")

    with pytest.raises(RuntimeError, match=r"validation_step\(\) failed after 3 retries: judge"):
        quiet(tmp_path, max_epochs=1).fit(BadVal(), loader, loader)


# -- manual optimisation, callbacks ----------------------------------------------------------
def test_manual_optimization(tmp_path, loader):
    class Manual(EchoAgent):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            optimizer = self.optimizers()
            optimizer.clear_grad()
            out = self._evaluate(batch)
            out["loss"][1].backward()
            optimizer.step()
            return out

    recorder = Recorder()
    agent = Manual()
    quiet(tmp_path, max_epochs=1, callbacks=[recorder]).fit(agent, loader)
    changes = [e[1] for e in recorder.events if e[0] == "optimizer_step"]
    assert changes[0] == [ParameterChange("answer", "a", "c")]
    assert len(changes) == 4 and agent.answer.data == "b"


def test_callback_order_and_changes(tmp_path, loader):
    recorder = Recorder()
    quiet(tmp_path, max_epochs=1, callbacks=[recorder]).fit(EchoAgent(), loader, loader)
    kinds = [e[0] for e in recorder.events]
    assert kinds[:4] == ["fit_start", "epoch_start", "optimizer_step", "batch_end"]
    assert kinds[-3:] == ["validation_end", "epoch_end", "fit_end"]
    first_change = recorder.events[2][1]
    assert first_change == [ParameterChange(name="answer", before="a", after="c")]
    unchanged = [e[1] for e in recorder.events if e[0] == "optimizer_step" and e[1] == []]
    assert unchanged  # a step that changed nothing still reports (an empty list)
    assert recorder.events[1] == ("epoch_start", 1)


# -- costs -----------------------------------------------------------------------------------
def test_cost_is_read_from_usage_growth(tmp_path, loader):
    model = CostlyModel(provider="fake")
    model.update_usage({"cost": {"amount": 10.0, "currency": "USD"}})  # spent before fit
    agent = EchoAgent(model)
    trainer = quiet(tmp_path, max_epochs=2)
    result = trainer.fit(agent, loader, loader, llm_clients=[model, model])
    # 4 train + 4 validation batches per epoch, 0.25 each, the client counted once
    assert [e["cost"] for e in result["epochs"]] == [2.0, 2.0]
    assert result["total_cost"] == pytest.approx(4.0) == trainer.total_cost
    assert model.get_usage()["cost"]["amount"] == pytest.approx(14.0)  # never cleared
    assert trainer.validate(agent, loader, llm_clients=[model]) == result["val"]
    assert trainer.total_cost == pytest.approx(5.0)


def test_backward_client_wrapper_counted_once(tmp_path, loader):
    model = CostlyModel(provider="fake")

    class Wrapper:
        def __init__(self, client):
            self._client = client

        def get_usage(self):
            return self._client.get_usage()

    result = quiet(tmp_path, max_epochs=1).fit(
        EchoAgent(model), loader, llm_clients=[model, Wrapper(model)]
    )
    assert result["total_cost"] == pytest.approx(1.0)


# -- output ----------------------------------------------------------------------------------
def test_progress_bars_and_summary(tmp_path, loader, capsys):
    Trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path).fit(
        EchoAgent(), loader, loader
    )
    out, err = capsys.readouterr()
    assert out.startswith("EchoAgent()")
    assert "Epoch 1/1 [train]" in err and "Epoch 1/1 [val]" in err
    assert "tot_cost: $0.0000 - train_loss:" in err
    quiet(tmp_path, max_epochs=1).fit(EchoAgent(), loader, loader)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_metrics_log(tmp_path, loader):
    trainer = quiet(tmp_path, max_epochs=1)
    trainer.fit(EchoAgent(), loader, loader)
    trainer.test(EchoAgent(), loader)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["train_batch"] * 4 + ["epoch", "test"]
    assert lines[0]["epoch"] == 1 and lines[0]["batch"] == 0
    assert lines[0]["metrics"] == {"loss": 0.0, "accuracy": 0.0}
    assert lines[4]["train"] == {"loss": 0.75, "accuracy": 0.375}
    assert trainer.metrics_path == str(tmp_path / "metrics.jsonl")
    other = tmp_path / "silent"
    quiet(other, max_epochs=1, enable_metrics_log=False).fit(EchoAgent(), loader)
    assert not other.exists()


# -- validate / test -------------------------------------------------------------------------
def test_validate_and_test(tmp_path, loader):
    recorder = Recorder()
    trainer = quiet(tmp_path, callbacks=[recorder])
    agent = EchoAgent()
    agent.answer.data = "c"
    expected = {"loss": LABELS.count("c") / 4, "accuracy": LABELS.count("c") / len(LABELS)}
    assert trainer.validate(agent, loader) == expected
    assert trainer.test(agent, loader) == expected
    assert not agent.training
    assert [e[0] for e in recorder.events] == ["validation_end", "test_end"]


def test_validate_and_test_errors(tmp_path, loader):
    trainer = quiet(tmp_path)
    with pytest.raises(ValueError, match="val_dataloader must be provided."):
        trainer.validate(EchoAgent())
    with pytest.raises(ValueError, match="test_dataloader must be provided."):
        trainer.test(EchoAgent())
    with pytest.raises(TypeError, match="`test_dataloader` must be a DataLoader"):
        trainer.test(EchoAgent(), 5)
    with pytest.raises(TypeError, match="`agent` must be"):
        trainer.validate("agent", loader)

    class OnlyTrain(Module):
        def training_step(self, batch, batch_idx):
            return None

    with pytest.raises(AttributeError, match=r"must implement validation_step\(\)"):
        trainer.validate(OnlyTrain(), loader)
    with pytest.raises(AttributeError, match=r"must implement test_step\(\)"):
        trainer.test(OnlyTrain(), loader)


# -- get_batch_size --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "batch, size",
    [
        ((Variable(["a", "b", "c"]), 1), 3),
        ({"text": ["a", "b"], "label": [0, 1]}, 2),
        ({"text": Variable(["a", "b"])}, 2),
        ((["x", "y"], ["p", "q"]), 2),
        (["a", "b", "c", "d"], 4),
        (Variable("scalar"), 1),
        ("plain", 1),
    ],
)
def test_get_batch_size(batch, size):
    assert get_batch_size(batch) == size


@pytest.mark.parametrize("batch", [{}, (), [], Variable([]), ({"a": []},)])
def test_get_batch_size_empty(batch):
    with pytest.raises(ValueError, match=r"Batch is empty \(size 0\), which is not allowed."):
        get_batch_size(batch)


@pytest.mark.parametrize(
    "name",
    [
        "afnio.trainer.trainer",
        "afnio.trainer.callbacks",
        "afnio.trainer.progress",
        "afnio.trainer._steps",
        "afnio.trainer._metrics",
        "afnio.trainer._checkpoint",
    ],
)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_trainer_is_not_imported_by_afnio():
    import subprocess
    import sys

    code = "import sys, afnio; print('afnio.trainer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fit_logs_epoch_means_to_the_active_run(tmp_path):
    from afnio import tellurio

    with tellurio.init("me", "Toy", name="fit", root=tmp_path / "runs") as run:
        quiet(tmp_path, max_epochs=2).fit(EchoAgent(), make_loader(), make_loader(seed=None))
    rows = [(m.name, m.step, m.value) for m in tellurio.read_run(run.path).metrics]
    assert ("train_accuracy", 1, 0.375) in rows and ("val_loss", 2, 1.0) in rows
    assert ("total_cost", 2, 0.0) in rows
    assert {name for name, _, _ in rows} == {
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "total_cost",
    }
