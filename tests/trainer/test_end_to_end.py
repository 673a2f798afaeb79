"""End to end: a sentiment agent trained by TGD through the Trainer, against scripted models.

The forward model gets sarcastic messages right only when the system prompt says that sarcasm
counts as negative; the backward model asks for that instruction; the optimizer model writes it.
Everything goes through the real OpenAI SDK to the local server.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import afnio
import afnio.cognitive as cog
from afnio import Variable
from afnio.models.openai import AsyncOpenAI
from afnio.optim import TGD
from afnio.testing import ChatRequest, LocalServer
from afnio.trainer import Callback, Trainer
from afnio.utils.data import DataLoader

RULE = "Sarcasm counts as negative."
INITIAL_PROMPT = "Classify the sentiment of the message as positive or negative."
MODEL = "gpt-4o-mini"

TRAIN = [
    ("I love this phone!", "positive"),
    ("Oh great, my flight is delayed again.", "negative"),
    ("Worst service ever.", "negative"),
    ("Wow, what a fantastic way to lose my luggage.", "negative"),
    ("The food was wonderful.", "positive"),
    ("Yeah, waiting two hours was just perfect.", "negative"),
]
VAL = [
    ("Brilliant, the printer jammed again.", "negative"),
    ("Such a lovely afternoon.", "positive"),
    ("Fantastic, I missed the bus. Again.", "negative"),
    ("Terrible coffee.", "negative"),
]
LABELS = dict(TRAIN + VAL)
SARCASTIC = {
    "Oh great, my flight is delayed again.",
    "Wow, what a fantastic way to lose my luggage.",
    "Yeah, waiting two hours was just perfect.",
    "Brilliant, the printer jammed again.",
    "Fantastic, I missed the bus. Again.",
}


# -- the scripted models ---------------------------------------------------------------------
def classify(request: ChatRequest) -> str | None:
    if "Message:" not in request.user or request.schema_name is not None:
        return None
    message = request.user.split("Message:", 1)[1].strip()
    if message in SARCASTIC and RULE not in request.system:
        return "positive"  # fooled by the sarcasm
    return LABELS[message]


def evaluator_feedback(request: ChatRequest) -> dict:
    keys = request.schema["required"]
    samples = re.findall(
        r"<PREDICTION>\n(.*?)\n</PREDICTION>\n<TARGET>\n(.*?)\n</TARGET>", request.user, re.S
    )
    assert len(samples) == len(keys)
    return {
        key: ""
        if prediction == target
        else f"The prediction '{prediction}' is wrong: the message is sarcastic, so '{target}'."
        for key, (prediction, target) in zip(keys, samples)
    }


def chat_feedback(request: ChatRequest) -> dict:
    keys = request.schema["required"]
    assert len(keys) == 1  # only the system prompt requires grad
    return {keys[0]: "The system prompt should say that sarcastic praise is negative."}


def optimizer_update(request: ChatRequest) -> dict:
    value = request.user.split("<VARIABLE>\n", 1)[1].split("\n</VARIABLE>", 1)[0]
    if "sarcas" in request.user.split("</VARIABLE>", 1)[1] and RULE not in value:
        value = f"{value} {RULE}"
    return {"improved_variable": value}


def script(server: LocalServer) -> None:
    server.script.when(predicate=lambda r: classify(r) is not None).reply(classify)
    server.script.when(schema="variable_feedback", user="deterministic evaluation").reply(
        evaluator_feedback
    )
    server.script.when(schema="variable_feedback", user="one call to a language model").reply(
        chat_feedback
    )
    server.script.when(schema="improved_variable").reply(optimizer_update)


# -- the agent -------------------------------------------------------------------------------
class SentimentAgent(cog.Module):
    def __init__(self, forward_model: AsyncOpenAI, optimizer_model: AsyncOpenAI) -> None:
        super().__init__()
        self.system_prompt = cog.Parameter(INITIAL_PROMPT, role="system prompt for sentiment")
        self.template = Variable("Message: {message}", role="input template")
        self.chat = cog.ChatCompletion()
        self.judge = cog.ExactMatchEvaluator()
        self.forward_model = forward_model  # registered as model members
        self.optimizer_model = optimizer_model

    def forward(self, messages: Any) -> Variable:
        chat = [
            {"role": "system", "content": [self.system_prompt]},
            {"role": "user", "content": [self.template]},
        ]
        return self.chat(self.forward_model, chat, inputs={"message": messages}, model=MODEL)

    def _step(self, batch: Any) -> dict:
        messages, labels = batch
        prediction = self(messages)
        score, explanation = self.judge(prediction, labels)
        return {"loss": (score, explanation), "accuracy": score.data / len(labels)}

    def training_step(self, batch: Any, batch_idx: int) -> dict:
        return self._step(batch)

    def validation_step(self, batch: Any, batch_idx: int) -> dict:
        return self._step(batch)

    def configure_optimizers(self) -> TGD:
        return TGD(self.parameters(), self.optimizer_model, momentum=2, model=MODEL)


@pytest.fixture
def models(local_server: LocalServer):
    script(local_server)
    options = {"base_url": local_server.base_url, "api_key": local_server.api_key}
    afnio.set_backward_model_client(f"openai/{MODEL}", client_args=dict(options))
    forward_model = AsyncOpenAI(**options)
    optimizer_model = AsyncOpenAI(**options)
    clients = [forward_model, afnio.get_backward_model_client(), optimizer_model]
    return forward_model, optimizer_model, clients


def loaders() -> tuple[DataLoader, DataLoader]:
    train = DataLoader(TRAIN, batch_size=2, shuffle=True, seed=3)
    val = DataLoader(VAL, batch_size=2)
    return train, val


def quiet_trainer(root, **kwargs) -> Trainer:
    return Trainer(
        max_epochs=2,
        enable_progress_bar=False,
        enable_agent_summary=False,
        default_root_dir=root,
        **kwargs,
    )


class StopAfter(Callback):
    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, trainer, agent, metrics, batch_idx):
        self.seen += 1
        if self.seen == self.batches:
            raise KeyboardInterrupt


class Changes(Callback):
    def __init__(self) -> None:
        self.changes: list = []

    def on_optimizer_step(self, trainer, agent, changes):
        self.changes.extend(changes)


def test_training_improves_validation_accuracy(tmp_path, models, local_server):
    forward_model, optimizer_model, clients = models
    agent = SentimentAgent(forward_model, optimizer_model)
    train, val = loaders()
    changes = Changes()
    trainer = quiet_trainer(tmp_path, callbacks=[changes])

    before = trainer.validate(agent, val, llm_clients=clients)
    assert before["accuracy"] == 0.5  # the two sarcastic messages fool it

    result = trainer.fit(agent, train, val, llm_clients=clients)
    after = trainer.validate(agent, val, llm_clients=clients)
    assert after["accuracy"] == 1.0 > before["accuracy"]
    assert result["val"]["accuracy"] == 1.0
    assert agent.system_prompt.data == f"{INITIAL_PROMPT} {RULE}"
    assert changes.changes == [("system_prompt", INITIAL_PROMPT, f"{INITIAL_PROMPT} {RULE}")]

    # every kind of call happened, and costs were counted once per client
    optimizer = agent.optimizers()
    assert len(optimizer.calls) == 1 and optimizer.calls[0].phase == "optimizer"
    tgd_requests = [
        r
        for r in local_server.requests
        if r.response_format and r.response_format["json_schema"]["name"] == "improved_variable"
    ]
    assert len(tgd_requests) == 1  # later steps had no feedback: nothing was sent
    assert "sarcas" in tgd_requests[0].messages[1]["content"]
    assert result["total_cost"] > 0
    assert trainer.total_cost == pytest.approx(
        sum(client.get_usage()["cost"]["amount"] for client in clients)
    )

    # the last checkpoint reloads into a fresh agent
    checkpoint = afnio.load(trainer.last_checkpoint_path)
    fresh = SentimentAgent(forward_model, optimizer_model)
    fresh.load_state_dict(
        checkpoint["agent_state_dict"],
        model_clients={
            "forward_model": forward_model,
            "optimizer_model": optimizer_model,
            "chat.forward_model_client": forward_model,
        },
    )
    assert fresh.system_prompt.data == agent.system_prompt.data
    assert fresh.system_prompt.requires_grad
    fresh_optimizer = fresh.configure_optimizers()
    fresh_optimizer.load_state_dict(
        checkpoint["optimizer_state_dict"],
        model_clients={
            "model_client": AsyncOpenAI(
                base_url=local_server.base_url, api_key=local_server.api_key
            )
        },
    )
    [(snapshot, feedback)] = fresh_optimizer.state[fresh.system_prompt]["momentum_buffer"]
    assert snapshot.data == INITIAL_PROMPT and "sarcastic" in feedback[0].data


def test_interrupted_fit_resumes_to_the_same_result(tmp_path, models):
    forward_model, optimizer_model, clients = models
    train, val = loaders()
    full_agent = SentimentAgent(forward_model, optimizer_model)
    expected = quiet_trainer(tmp_path / "full").fit(full_agent, train, val, llm_clients=clients)

    interrupted = SentimentAgent(forward_model, optimizer_model)
    with pytest.raises(KeyboardInterrupt):
        quiet_trainer(tmp_path / "run", callbacks=[StopAfter(2)]).fit(
            interrupted, train, val, llm_clients=clients
        )
    assert interrupted.system_prompt.data.endswith(RULE)  # changed before the interruption

    resumed = SentimentAgent(forward_model, optimizer_model)
    assert resumed.system_prompt.data == INITIAL_PROMPT
    result = quiet_trainer(tmp_path / "run").fit(
        resumed, train, val, ckpt_path="last", llm_clients=clients
    )
    assert resumed.system_prompt.data == full_agent.system_prompt.data
    without_cost = [{k: v for k, v in e.items() if k != "cost"} for e in result["epochs"]]
    assert without_cost == [{k: v for k, v in e.items() if k != "cost"} for e in expected["epochs"]]
    assert [e["cost"] for e in result["epochs"]] == pytest.approx(
        [e["cost"] for e in expected["epochs"]]
    )
    assert result["total_cost"] == pytest.approx(expected["total_cost"])
    assert result["global_step"] == expected["global_step"] == 6
    expected_state = full_agent.optimizers().state[full_agent.system_prompt]
    resumed_state = resumed.optimizers().state[resumed.system_prompt]
    assert [s.data for s, _ in resumed_state["momentum_buffer"]] == [
        s.data for s, _ in expected_state["momentum_buffer"]
    ]
