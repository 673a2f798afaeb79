"""PromptTuner: run, feedback, step, accept/reject/edit, history, compare, failed rows, buttons
— against the local server, with scripted models that react to the prompt's wording."""

from __future__ import annotations

import re

import pytest

import afnio.cognitive as cog
from afnio import Variable
from afnio.models.openai import AsyncOpenAI
from afnio.optim import TGD
from afnio.testing import ChatRequest, Reply
from afnio.utils.data import DataLoader
from afnio_widgets import GraphView, PromptTuner

MODEL = "gpt-4o-mini"
PROMPT = "Label the sentiment of the review as positive or negative."
RULE = "A negated complaint is positive."
DATA = [
    ("Great sound, great price.", "positive"),
    ("Not bad at all.", "positive"),
    ("Broke after a day.", "negative"),
    ("I can't complain.", "positive"),
]
NEGATED = {"Not bad at all.", "I can't complain."}


def _first(request: ChatRequest, role: str) -> str:
    for message in request.messages:
        if message.get("role") == role:
            return str(message.get("content"))
    return ""


def script_models(script, slow: frozenset[str] = frozenset()) -> None:
    """A classifier fooled by negations unless the prompt states RULE (answering the ``slow``
    reviews after 0.6 s); feedback that says so; an optimizer that adds RULE to the prompt."""

    def classify(request: ChatRequest):
        if request.schema_name is not None:
            return None
        review = _first(request, "user").removeprefix("Review: ")
        if review == "FAIL":
            return Reply("the model is down", status=400)
        if review in NEGATED and RULE not in _first(request, "system"):
            label = "negative"
        else:
            label = dict(DATA).get(review, "positive")
        return Reply(label, latency=0.6) if review in slow else label

    def evaluator_feedback(request: ChatRequest):
        keys = request.schema["required"]
        pairs = re.findall(
            r"<PREDICTION>\n(.*?)\n</PREDICTION>\n<TARGET>\n(.*?)\n</TARGET>",
            _first(request, "user"),
            re.S,
        )
        wrong = "Wrong: the review is a negated complaint."
        return {k: "" if p == t else wrong for k, (p, t) in zip(keys, pairs)}

    def chat_feedback(request: ChatRequest):
        text = "The system prompt should say that a negated complaint is positive."
        return dict.fromkeys(request.schema["required"], text)

    def rewrite(request: ChatRequest):
        user = _first(request, "user")
        value = user.split("<VARIABLE>\n", 1)[1].split("\n</VARIABLE>", 1)[0]
        return {"improved_variable": f"{value} {RULE}"}

    script.when(schema="variable_feedback", user="deterministic evaluation").reply(
        evaluator_feedback
    )
    script.when(schema="variable_feedback").reply(chat_feedback)
    script.when(schema="improved_variable").reply(rewrite)
    script.when().reply(classify)


class Classifier(cog.Module):
    def __init__(self, client, optimizer_client):
        super().__init__()
        self.system_prompt = cog.Parameter(PROMPT, role="system prompt of the classifier")
        self.template = Variable("Review: {review}", role="review template")
        self.chat = cog.ChatCompletion()
        self.judge = cog.ExactMatchEvaluator()
        self.client = client
        self.optimizer_client = optimizer_client

    def training_step(self, batch, batch_idx):
        reviews, labels = batch
        messages = [
            {"role": "system", "content": [self.system_prompt]},
            {"role": "user", "content": [self.template]},
        ]
        prediction = self.chat(self.client, messages, inputs={"review": reviews}, model=MODEL)
        score, explanation = self.judge(prediction, Variable(labels, role="true sentiment"))
        return {"loss": (score, explanation), "accuracy": score.data / len(labels)}

    def configure_optimizers(self):
        return TGD(self.parameters(), self.optimizer_client, momentum=2, model=MODEL)


@pytest.fixture
def agent(local_server, backward_client):
    script_models(local_server.script)
    options = {
        "base_url": local_server.base_url,
        "api_key": local_server.api_key,
        "max_retries": 1,
        "retry_base_delay": 0.01,
    }
    return Classifier(AsyncOpenAI(**options), AsyncOpenAI(**options))


def batch_of(rows):
    return next(iter(DataLoader(rows, batch_size=len(rows))))


def test_run_feedback_step_accept_raises_the_score(agent):
    tuner = PromptTuner(agent, batch_of(DATA), title="sentiment")
    assert [p["name"] for p in tuner.parameters] == ["system_prompt"]

    run = tuner.run()
    assert run["metrics"]["accuracy"] == 0.5
    assert [r["output"] for r in run["rows"]] == ["positive", "negative", "negative", "negative"]
    assert [r["score"] for r in run["rows"]] == [1.0, 0.0, 1.0, 0.0]
    assert run["rows"][1]["input"] == "Not bad at all." and run["rows"][1]["target"] == "positive"
    assert "('negative')" in run["rows"][1]["explanation"]
    assert [c["sample"] for c in run["rows"][2]["calls"]] == [2]  # its forward call
    assert tuner.results["rows"][1]["score"] == 0.0  # the synced trait shows the same

    grads = tuner.feedback()["parameters"]["system_prompt"]
    assert sorted(g["example"] for g in grads) == [1, 3]  # the two wrong examples
    assert "negated complaint" in grads[0]["text"]
    assert isinstance(tuner.graph, GraphView)
    assert any(n.get("name") == "ExactMatchEvaluatorBackward0" for n in tuner.graph.graph["nodes"])
    assert any(c["phase"] == "backward" for c in tuner.gradients["calls"])

    proposal = tuner.step()["parameters"]["system_prompt"]
    assert proposal == {"before": PROMPT, "after": f"{PROMPT} {RULE}"}
    assert agent.system_prompt.data == PROMPT  # not applied yet
    assert tuner.proposal["calls"][0]["phase"] == "optimizer"

    assert tuner.accept() == 1
    assert agent.system_prompt.data == f"{PROMPT} {RULE}"
    assert tuner.proposal == {}
    run = tuner.run()
    assert run["metrics"]["accuracy"] == 1.0 and run["version"] == 1

    history = tuner.history
    assert [(v["version"], v["source"]) for v in history] == [(0, "initial"), (1, "proposal")]
    assert [r["metrics"]["accuracy"] for r in history[0]["runs"]] == [0.5]
    assert [r["metrics"]["accuracy"] for r in history[1]["runs"]] == [1.0]
    assert tuner.versions == history
    assert tuner.usage["calls"] >= 4 + 2 + 1  # forward, backward and optimizer calls
    assert tuner.usage["total_tokens"] > 0
    tuner.close()


def test_reject_keeps_the_text_and_edits_reach_the_kernel(agent):
    tuner = PromptTuner(agent, batch_of(DATA))
    tuner.run()
    tuner.feedback()
    tuner.step()
    optimizer = tuner.session.optimizers[0]
    assert optimizer.state[agent.system_prompt]["momentum_buffer"]  # the step remembered it
    tuner.reject()
    assert agent.system_prompt.data == PROMPT and tuner.proposal == {}
    assert not optimizer.state.get(agent.system_prompt, {}).get("momentum_buffer")  # forgotten
    with pytest.raises(RuntimeError, match="No proposal to accept"):
        tuner.accept()

    tuner.run()
    tuner.feedback()
    tuner.step()
    version = tuner.accept({"system_prompt": f"{PROMPT} Negations: {RULE}"})
    assert optimizer.state[agent.system_prompt]["momentum_buffer"]  # kept on accept
    assert agent.system_prompt.data == f"{PROMPT} Negations: {RULE}"
    assert tuner.history[version]["source"] == "edited proposal"

    assert tuner.edit("system_prompt", "Say positive.") == version + 1
    assert agent.system_prompt.data == "Say positive."
    assert tuner.parameters[0]["text"] == "Say positive."
    assert tuner.revert(0) == version + 2
    assert agent.system_prompt.data == PROMPT
    assert tuner.history[-1]["source"] == "restore of v0"
    tuner.close()


def test_compare_two_versions_side_by_side(agent):
    tuner = PromptTuner(agent, batch_of(DATA))
    tuner.edit("system_prompt", f"{PROMPT} {RULE}")
    comparison = tuner.compare(0, 1)
    assert comparison["versions"] == [0, 1]
    assert comparison["metrics"][0]["accuracy"] == 0.5
    assert comparison["metrics"][1]["accuracy"] == 1.0
    rows = comparison["rows"]
    assert [r["index"] for r in rows] == [1, 3, 0, 2]  # the differing examples first
    assert [r["differs"] for r in rows] == [True, True, False, False]
    assert [s["output"] for s in rows[0]["sides"]] == ["negative", "positive"]
    assert agent.system_prompt.data == f"{PROMPT} {RULE}"  # the current text is back
    assert [len(v["runs"]) for v in tuner.history] == [1, 1]
    assert tuner.comparison["rows"] == rows
    with pytest.raises(ValueError, match="`v2` must be between 0 and 1"):
        tuner.compare(0, 5)
    tuner.close()


def test_feedback_belongs_to_the_version_it_ran_with(agent):
    tuner = PromptTuner(agent, batch_of(DATA))
    tuner.run()
    tuner.feedback()
    tuner.compare(0, 0)  # runs the batch again, but leaves the feedback usable
    assert agent.system_prompt.grad and tuner.gradients["run"] == 1
    assert tuner.step()["parameters"]["system_prompt"]["after"].endswith(RULE)
    tuner.reject()
    tuner.run()
    tuner.edit("system_prompt", "Something else.")
    assert tuner.gradients == {} and agent.system_prompt.grad == []
    with pytest.raises(RuntimeError, match="was made with v0, but the parameters are now v1"):
        tuner.feedback()
    tuner.close()


def test_a_failed_call_shows_its_error_in_its_row(agent):
    rows = [DATA[0], ("FAIL", "positive"), DATA[2]]
    tuner = PromptTuner(agent, batch_of(rows))
    run = tuner.run()
    assert run["per_example"] and run["failed"] == 1
    failed = run["rows"][1]
    assert failed["output"] is None
    assert "ModelCallError" in failed["error"] and "the model is down" in failed["error"]
    assert [r["output"] for r in (run["rows"][0], run["rows"][2])] == ["positive", "negative"]
    assert [r["error"] for r in (run["rows"][0], run["rows"][2])] == [None, None]
    assert run["metrics"]["accuracy"] == 1.0  # over the examples that ran
    tuner.close()


def test_hostile_text_stays_text_in_the_state(agent):
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    tuner = PromptTuner(agent, batch_of([(hostile, "positive")]))
    tuner.edit("system_prompt", hostile)
    run = tuner.run()
    assert run["rows"][0]["input"] == hostile
    assert tuner.parameters[0]["text"] == hostile
    tuner.close()


def test_buttons_run_in_a_worker_thread(agent, comm_of):
    tuner = PromptTuner(agent, batch_of(DATA))
    c = comm_of(tuner)
    c.receive({"type": "action", "action": "run"})
    assert tuner.wait(timeout=60)
    assert tuner.results["metrics"]["accuracy"] == 0.5
    assert tuner.status["busy"] is False and "run: done" in tuner.status["message"]
    c.receive({"type": "action", "action": "step"})  # before feedback: refused, shown
    assert tuner.wait(timeout=60)
    assert "call run() and feedback() before step()" in tuner.status["error"]
    for action in ("feedback", "step"):
        c.receive({"type": "action", "action": action})
        assert tuner.wait(timeout=60)
    c.receive({"type": "action", "action": "accept", "edits": {"system_prompt": "Edited."}})
    assert tuner.wait(timeout=60)
    assert agent.system_prompt.data == "Edited."
    c.receive({"type": "action", "action": "edit", "name": "system_prompt", "text": "Typed."})
    assert tuner.wait(timeout=60)
    assert agent.system_prompt.data == "Typed."
    c.receive({"type": "action", "action": "compare", "v1": 0, "v2": 2})
    assert tuner.wait(timeout=60)
    assert tuner.comparison["versions"] == [0, 2]
    c.receive({"type": "action", "action": "nonsense"})  # ignored
    assert tuner.wait(timeout=1)
    tuner.close()


def test_arguments_are_checked(agent):
    with pytest.raises(TypeError, match="`agent` must be an afnio.cognitive.Module"):
        PromptTuner(object(), batch_of(DATA))
    with pytest.raises(ValueError, match="Cannot split str"):
        PromptTuner(agent, "not a batch")
    with pytest.raises(TypeError, match="`optimizer` must give an afnio.optim.Optimizer"):
        PromptTuner(agent, batch_of(DATA), optimizer="TGD")

    class NoStep(cog.Module):
        def __init__(self):
            super().__init__()
            self.p = cog.Parameter("x")

    with pytest.raises(AttributeError, match="must implement training_step"):
        PromptTuner(NoStep(), batch_of(DATA))
    tuner = PromptTuner(agent, batch_of(DATA))
    with pytest.raises(RuntimeError, match="call run\\(\\) before feedback"):
        tuner.feedback()
    with pytest.raises(KeyError, match="No parameter named 'nope'"):
        tuner.edit("nope", "x")
    with pytest.raises(TypeError, match="`version` must be a version number"):
        tuner.revert("1")
    tuner.run()
    tuner.feedback()
    with pytest.raises(RuntimeError, match="already computed"):
        tuner.feedback()
    tuner.close()


def test_an_explicit_optimizer_is_used(agent):
    optimizer = TGD(agent.parameters(), agent.optimizer_client, model=MODEL)
    tuner = PromptTuner(agent, batch_of(DATA), optimizer=optimizer)
    assert tuner.session.optimizers == [optimizer]
    tuner.close()


def test_a_button_returns_at_once_and_the_status_counts_calls(agent, local_server, comm_of):
    local_server.script.clear()
    script_models(local_server.script, slow=frozenset(text for text, _ in DATA[1:]))
    tuner = PromptTuner(agent, batch_of(DATA))
    statuses = []
    tuner.observe(lambda change: statuses.append(dict(change["new"])), names="status")
    comm_of(tuner).receive({"type": "action", "action": "run"})
    assert tuner.results == {}  # the kernel thread is free while the models answer
    assert tuner.wait(timeout=60)
    assert tuner.results["metrics"]["accuracy"] == 0.5
    busy = [s for s in statuses if s["busy"]]
    assert busy[0]["action"] == "run" and busy[0]["calls"] == 0
    assert any(s["calls"] >= 1 for s in busy)  # progress while the slow calls are pending
    assert statuses[-1]["busy"] is False and statuses[-1]["message"].startswith("run: done")
    tuner.close()
