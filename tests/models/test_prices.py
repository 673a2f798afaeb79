"""The bundled price table and the cost formula."""

from __future__ import annotations

import datetime
import json
from importlib import resources

import pytest

from afnio.models.prices import calculate_cost, get_pricing, load_prices, prices_updated

REQUIRED = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini",
    "gpt-5-nano", "gpt-5.1", "o1", "o3", "o3-mini", "o4-mini",
    "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-5-2025-08-07",
]  # fmt: skip


def test_table_is_dated_and_sourced():
    datetime.date.fromisoformat(prices_updated())
    table = json.loads(resources.files("afnio.models").joinpath("model_prices.json").read_text())
    assert "pricing" in table["source"] or "platform.openai.com" in table["source"]
    assert set(table["openai"]) == {"models", "pricing"}


@pytest.mark.parametrize("model", REQUIRED)
def test_required_models_are_priced(model):
    pricing = get_pricing("openai", model)
    assert pricing is not None
    assert pricing["input"] > 0 and pricing["output"] > 0


def test_every_alias_points_at_a_price():
    table = load_prices()["openai"]
    assert set(table["models"].values()) <= set(table["pricing"])


def test_specific_prices():
    assert get_pricing("openai", "gpt-4o") == {"input": 2.5, "cached": 1.25, "output": 10.0}
    assert get_pricing("openai", "gpt-4o-2024-05-13") == {
        "input": 5.0,
        "cached": None,
        "output": 15.0,
    }
    assert get_pricing("openai", "gpt-4o-2030-01-01") == get_pricing("openai", "gpt-4o")
    assert get_pricing("openai", "llama3") is None
    assert get_pricing("anthropic", "gpt-4o") is None


def test_cost_formula():
    usage = {
        "prompt_tokens": 2_000_000,
        "completion_tokens": 1_000_000,
        "prompt_tokens_details": {"cached_tokens": 1_000_000},
    }
    assert calculate_cost(usage, {"input": 2.0, "cached": 0.5, "output": 8.0}) == 10.5
    # No published cached price: cached tokens are charged as input.
    assert calculate_cost(usage, {"input": 5.0, "cached": None, "output": 15.0}) == 25.0
    assert calculate_cost({"prompt_tokens": None}, {"input": 1.0, "output": 1.0}) == 0.0
