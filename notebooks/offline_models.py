"""Scripted stand-ins for language models, used by the notebooks when no real model is set up.

Each function returns an :class:`afnio.testing.ScriptedModel` that answers the requests a
notebook makes the way a language model plausibly would: it makes a mistake the notebook then
teaches afnio to fix, writes feedback that names the mistake, and rewrites the prompt. With
``OPENAI_API_KEY`` (or ``OPENAI_BASE_URL``) set, the notebooks use a real model instead and none
of this runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from afnio.testing import ChatRequest, ScriptedModel

DATA = Path(__file__).parent / "data" / "facility_messages.json"

POLITENESS_RULE = (
    "Judge the situation the message describes, not its tone: a polite message that reports a "
    "problem which is still not solved is negative."
)


def _facility_records() -> dict[str, dict]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return {r["message"]: r for split in ("train", "val") for r in data[split]}


def _knows_the_rule(system_prompt: str) -> bool:
    return bool(re.search(r"\bpolite\b.*\bnegative\b", system_prompt, re.IGNORECASE | re.DOTALL))


def facility_support_model() -> ScriptedModel:
    """The models of ``03_prompt_tuning``: a sentiment classifier fooled by polite complaints
    unless its system prompt warns it, a feedback engine that spots the mistake, and an optimizer
    that writes the warning into the prompt."""
    records = _facility_records()
    model = ScriptedModel()

    def classify(request: ChatRequest) -> dict | None:
        if request.schema_name != "sentiment":
            return None
        match = re.search(r"Message:\s*(.*)", request.user, re.DOTALL)
        record = records.get(match.group(1).strip()) if match else None
        if record is None:
            return {"sentiment": "neutral"}
        if record.get("polite_complaint") and not _knows_the_rule(request.system):
            return {"sentiment": "positive"}  # fooled by the friendly wording
        return {"sentiment": record["sentiment"]}

    def evaluator_feedback(request: ChatRequest) -> dict:
        keys = request.schema["required"]
        pairs = re.findall(
            r"<PREDICTION>\n(.*?)\n</PREDICTION>\n<TARGET>\n(.*?)\n</TARGET>", request.user, re.S
        )
        answers = {}
        for key, (prediction, target) in zip(keys, pairs):
            if prediction == target:
                answers[key] = ""
            else:
                answers[key] = (
                    f"The prediction '{prediction}' is wrong, the expected sentiment is "
                    f"'{target}': the message is polite, but it reports a problem that is still "
                    "not solved, which makes it negative."
                )
        for key in keys[len(pairs) :]:
            answers[key] = ""
        return answers

    def prompt_feedback(request: ChatRequest) -> dict:
        keys = request.schema["required"]
        prompt = re.search(r"<VARIABLE [^>]*>\n(.*?)\n</VARIABLE>", request.user, re.DOTALL)
        if "polite" not in request.user or prompt is None or _knows_the_rule(prompt.group(1)):
            return dict.fromkeys(keys, "")
        return dict.fromkeys(
            keys,
            "The system prompt should tell the classifier to judge the situation described, not "
            "the polite tone: a courteous message about a problem that is still not solved is "
            "negative.",
        )

    def rewrite(request: ChatRequest) -> dict:
        value = request.user.split("<VARIABLE>\n", 1)[1].split("\n</VARIABLE>", 1)[0]
        feedback = request.user.split("</VARIABLE>", 1)[1]
        if "polite" in feedback and not _knows_the_rule(value):
            value = f"{value.rstrip()} {POLITENESS_RULE}"
        return {"improved_variable": value}

    model.when(predicate=lambda r: r.schema_name == "sentiment").reply(classify)
    model.when(schema="variable_feedback", user="deterministic evaluation").reply(
        evaluator_feedback
    )
    model.when(schema="variable_feedback").reply(prompt_feedback)
    model.when(schema="improved_variable").reply(rewrite)
    return model


def translator_model() -> ScriptedModel:
    """The model of ``04_teaching_autodiff``: a translator that answers in English unless its
    system prompt names the language, and a feedback engine that notices."""
    model = ScriptedModel()
    greetings = {"italian": "Ciao!", "spanish": "¡Hola!", "french": "Bonjour !"}

    def translate(request: ChatRequest) -> str | None:
        if request.schema_name is not None:
            return None
        for language, greeting in greetings.items():
            if language in request.system.lower():
                return greeting
        return "Hello!"

    def feedback(request: ChatRequest) -> dict:
        keys = request.schema["required"]
        names = re.findall(r'<VARIABLE name="([^"]+)" role="([^"]*)">', request.user)
        wanted = re.search(r"<FEEDBACK>\n(.*?)\n</FEEDBACK>", request.user, re.DOTALL)
        text = wanted.group(1) if wanted else ""
        answers = dict.fromkeys(keys, "")
        for name, role in names:
            if name in answers and "system" in role and text:
                answers[name] = (
                    "The system prompt never says which language to answer in; it should ask "
                    f"explicitly for the language the feedback expects ({text.strip()})"
                )
        return answers

    model.when(schema="variable_feedback").reply(feedback)
    model.when(predicate=lambda r: translate(r) is not None).reply(translate)
    return model
