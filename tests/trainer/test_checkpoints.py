"""Trainer checkpoints: paths, contents, atomic writes, and resuming an interrupted fit."""

from __future__ import annotations

import glob
import logging
import os

import pytest
from trainer_toys import SEED, CostlyModel, EchoAgent, make_loader

import afnio
from afnio.trainer import Callback, Trainer


class Stop(Exception):
    """Simulates an interruption."""


class StopAfter(Callback):
    def __init__(self, batches: int | None = None, hook: str = "on_train_batch_end") -> None:
        self.batches = batches
        self.hook = hook
        self.seen = 0

    def on_train_batch_end(self, trainer, agent, metrics, batch_idx):
        self.seen += 1
        if self.hook == "on_train_batch_end" and self.seen == self.batches:
            raise Stop(f"stopped after {self.seen} batches")

    def on_train_epoch_end(self, trainer, agent, metrics):
        if self.hook == "on_train_epoch_end":
            raise Stop("stopped at the end of an epoch")

    def on_validation_end(self, trainer, agent, metrics):
        if self.hook == "on_validation_end":
            raise Stop("stopped after validation")


def trainer_in(root, **kwargs) -> Trainer:
    options = dict(enable_progress_bar=False, enable_agent_summary=False, default_root_dir=root)
    options.update(kwargs)
    return Trainer(**options)


def run(root, agent, epochs=3, ckpt_path=None, callbacks=(), clients=None, seed=SEED):
    trainer = trainer_in(root, max_epochs=epochs, callbacks=list(callbacks))
    result = trainer.fit(
        agent,
        make_loader(seed=seed),
        make_loader(seed=None),
        ckpt_path=ckpt_path,
        llm_clients=clients,
    )
    return trainer, result


def comparable(result):
    return {key: value for key, value in result.items() if key != "last_checkpoint"}


def test_checkpoint_paths_and_contents(tmp_path):
    trainer, _ = run(tmp_path, EchoAgent(), epochs=1)
    root = tmp_path / "checkpoints"
    batch_files = sorted(glob.glob(str(root / "epoch_1" / "checkpoint_batch*_*.hf")))
    assert [os.path.basename(p).split("_")[1] for p in batch_files] == [
        "batch0",
        "batch1",
        "batch2",
        "batch3",
    ]
    [epoch_file] = glob.glob(str(root / "checkpoint_epoch1_*.hf"))
    assert trainer.last_checkpoint_path == epoch_file
    pointer = (root / "last_checkpoint.txt").read_text()
    assert pointer == os.path.relpath(epoch_file, tmp_path)
    assert not [p for p in glob.glob(str(root / "**" / "*"), recursive=True) if p.endswith(".tmp")]
    stamp = os.path.basename(epoch_file)[len("checkpoint_epoch1_") : -len(".hf")]
    assert len(stamp) == len("YYYYmmdd-HHMMSS") and stamp[8] == "-"

    checkpoint = afnio.load(batch_files[0])
    assert checkpoint["version"] == 1
    assert checkpoint["epoch"] == 1 and checkpoint["batch"] == 0
    assert list(checkpoint["agent_state_dict"]) == ["answer", "steps_seen"]
    assert checkpoint["agent_state_dict"]["answer"].data == "c"
    optimizer_state = checkpoint["optimizer_state_dict"]
    assert optimizer_state["param_groups"][0]["params"] == [0]
    assert optimizer_state["state"][0] == {"history": ["a"]}
    state = checkpoint["trainer_state"]
    assert state["epoch"] == 1 and state["batches_done"] == 1
    assert state["global_step"] == 1 and state["history"] == []
    final = afnio.load(epoch_file)
    assert final["batch"] is None and final["trainer_state"]["epoch"] == 2
    assert final["trainer_state"]["history"][0]["epoch"] == 1


def test_no_checkpoints_when_disabled(tmp_path):
    trainer = trainer_in(tmp_path, max_epochs=1, enable_checkpointing=False)
    trainer.fit(EchoAgent(), make_loader())
    assert not (tmp_path / "checkpoints").exists()
    assert trainer.last_checkpoint_path is None


@pytest.mark.parametrize("stop_after", [1, 3, 4, 5, 9])
def test_resume_mid_epoch_matches_an_uninterrupted_run(tmp_path, stop_after):
    _, expected = run(tmp_path / "full", EchoAgent())

    interrupted = EchoAgent()
    with pytest.raises(Stop):
        run(tmp_path / "broken", interrupted, callbacks=[StopAfter(stop_after)])
    trained_before = [e for e in interrupted.log if e[0] == "train"]
    assert len(trained_before) == stop_after

    resumed = EchoAgent()
    trainer, result = run(tmp_path / "broken", resumed, ckpt_path="last")
    assert comparable(result) == comparable(expected)
    first_resumed = next(e for e in resumed.log if e[0] == "train")
    assert first_resumed[1] == stop_after % 4  # continues right after the last finished batch
    assert resumed.answer.requires_grad


def test_resume_restores_parameters_and_optimizer_state(tmp_path):
    full_agent = EchoAgent()
    run(tmp_path / "full", full_agent)
    full_optimizer = full_agent.optimizers()

    with pytest.raises(Stop):
        run(tmp_path / "broken", EchoAgent(), callbacks=[StopAfter(6)])
    resumed = EchoAgent()
    run(tmp_path / "broken", resumed, ckpt_path="last")
    assert resumed.answer.data == full_agent.answer.data
    resumed_state = resumed.optimizers().state[resumed.answer]
    assert resumed_state == full_optimizer.state[full_agent.answer]


def test_resume_from_an_epoch_checkpoint(tmp_path):
    _, expected = run(tmp_path / "full", EchoAgent())
    with pytest.raises(Stop, match="end of an epoch"):
        run(tmp_path / "broken", EchoAgent(), callbacks=[StopAfter(hook="on_train_epoch_end")])
    [epoch_file] = glob.glob(str(tmp_path / "broken" / "checkpoints" / "checkpoint_epoch1_*.hf"))
    resumed = EchoAgent()
    _, result = run(tmp_path / "broken", resumed, ckpt_path=epoch_file)
    assert comparable(result) == comparable(expected)
    assert next(e for e in resumed.log if e[0] == "train")[1] == 0


def test_interruption_during_validation_reruns_only_validation(tmp_path):
    _, expected = run(tmp_path / "full", EchoAgent())
    with pytest.raises(Stop, match="after validation"):
        run(tmp_path / "broken", EchoAgent(), callbacks=[StopAfter(hook="on_validation_end")])
    resumed = EchoAgent()
    _, result = run(tmp_path / "broken", resumed, ckpt_path="last")
    assert comparable(result) == comparable(expected)
    assert resumed.log[0][0] == "val"  # epoch 1's training was already done


def test_resume_restores_costs(tmp_path):
    model = CostlyModel(provider="fake")
    _, expected = run(tmp_path / "full", EchoAgent(model), clients=[model])
    assert expected["total_cost"] == pytest.approx(6.0)

    model = CostlyModel(provider="fake")
    with pytest.raises(Stop):
        run(tmp_path / "broken", EchoAgent(model), callbacks=[StopAfter(6)], clients=[model])
    fresh_model = CostlyModel(provider="fake")
    _, result = run(
        tmp_path / "broken", EchoAgent(fresh_model), ckpt_path="last", clients=[fresh_model]
    )
    assert result["total_cost"] == pytest.approx(expected["total_cost"])
    assert [e["cost"] for e in result["epochs"]] == [e["cost"] for e in expected["epochs"]]


def test_finished_run_resumes_to_the_same_result(tmp_path):
    _, expected = run(tmp_path, EchoAgent())
    agent = EchoAgent()
    _, result = run(tmp_path, agent, ckpt_path="last")
    assert comparable(result) == comparable(expected)
    assert agent.log == []  # nothing left to do


def test_unseeded_shuffle_warns_on_mid_epoch_resume(tmp_path, caplog):
    with pytest.raises(Stop):
        run(tmp_path, EchoAgent(), callbacks=[StopAfter(2)], seed=None)
    # make_loader(seed=None) does not shuffle, so shuffle an unseeded loader explicitly
    loader = make_loader(seed=1)
    loader.seed = None
    trainer = trainer_in(tmp_path, max_epochs=1)
    with caplog.at_level(logging.WARNING, logger="afnio.trainer"):
        trainer.fit(EchoAgent(), loader, ckpt_path="last")
    assert any("without a seed" in r.getMessage() for r in caplog.records)


def test_bad_checkpoints(tmp_path):
    trainer = trainer_in(tmp_path, max_epochs=1)
    with pytest.raises(FileNotFoundError, match="No checkpoint found"):
        trainer.fit(EchoAgent(), make_loader(), ckpt_path="last")
    afnio.save({"epoch": 1}, tmp_path / "not_a_checkpoint.hf")
    with pytest.raises(ValueError, match="is not a checkpoint written by afnio's Trainer"):
        trainer.fit(EchoAgent(), make_loader(), ckpt_path=tmp_path / "not_a_checkpoint.hf")

    run(tmp_path / "other", EchoAgent(), epochs=1)

    class Different(EchoAgent):
        def __init__(self):
            super().__init__()
            self.extra = afnio.cognitive.Parameter("x")

    with pytest.raises(RuntimeError, match="does not match the agent Different: missing keys"):
        trainer_in(tmp_path / "other", max_epochs=1).fit(
            Different(), make_loader(), ckpt_path="last"
        )


def test_unsavable_member_gives_a_clear_checkpoint_error(tmp_path):
    agent = EchoAgent()
    agent.scorer = lambda p, t: int(p == t)
    with pytest.raises(RuntimeError) as info:
        trainer_in(tmp_path, max_epochs=1).fit(agent, make_loader())
    message = str(info.value)
    assert "Could not write the checkpoint" in message and "'scorer'" in message
    assert "enable_checkpointing=False" in message
    result = trainer_in(tmp_path, max_epochs=1, enable_checkpointing=False).fit(
        agent, make_loader()
    )
    assert result["global_step"] == 4
