"""Model prices: a bundled, dated table (``model_prices.json``) and the cost of a call.

The table maps each model name (or dated alias) to a pricing key, and each key to USD prices per
million tokens: ``input`` (uncached prompt tokens), ``cached`` (cached prompt tokens; ``null``
means no discount, so they are charged as input) and ``output`` (completion tokens, reasoning
included). The ``updated`` date and ``source`` note say where the figures come from; prices
change, so check them before relying on a cost.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

__all__ = ["calculate_cost", "get_pricing", "is_openai_api", "load_prices", "prices_updated"]

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@functools.lru_cache(maxsize=1)
def load_prices() -> dict[str, Any]:
    """Returns the bundled price table (read once, on first use)."""
    text = resources.files("afnio.models").joinpath("model_prices.json").read_text("utf-8")
    return dict(json.loads(text))


def prices_updated() -> str:
    """Returns the date (``YYYY-MM-DD``) the bundled price table was last checked.

    Example:
        >>> from afnio.models.prices import prices_updated
        >>> len(prices_updated())
        10
    """
    return str(load_prices()["updated"])


def get_pricing(provider: str | None, model: str | None) -> dict[str, float | None] | None:
    """Returns the prices of ``model`` from ``provider``, or ``None`` if the table lacks them.

    A dated name missing from the table (``gpt-4o-2099-01-01``) falls back to its undated base
    name (``gpt-4o``).

    Example:
        >>> from afnio.models.prices import get_pricing
        >>> get_pricing("openai", "gpt-4o-mini")
        {'input': 0.15, 'cached': 0.075, 'output': 0.6}
        >>> get_pricing("openai", "my-local-llama") is None
        True
    """
    if not provider or not model:
        return None
    table = load_prices().get(provider.lower())
    if not isinstance(table, dict):
        return None
    aliases: dict[str, str] = table.get("models", {})
    pricing: dict[str, dict[str, float | None]] = table.get("pricing", {})
    for name in (model, _DATE_SUFFIX.sub("", model)):
        key = aliases.get(name, name)
        if key in pricing:
            return dict(pricing[key])
    return None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def calculate_cost(usage: dict[str, Any], pricing: dict[str, float | None]) -> float:
    """Returns the USD cost of ``usage`` (an OpenAI-style usage dict) at ``pricing``.

    Cached prompt tokens (``prompt_tokens_details.cached_tokens``) are charged at the ``cached``
    price, or at the ``input`` price when no cached price is published; missing or ``None``
    counters count as 0.

    Example:
        >>> from afnio.models.prices import calculate_cost
        >>> usage = {"prompt_tokens": 1_000_000, "completion_tokens": 500_000,
        ...          "prompt_tokens_details": {"cached_tokens": 200_000}}
        >>> calculate_cost(usage, {"input": 2.5, "cached": 1.25, "output": 10.0})
        7.25
    """
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details") or {}
    cached = min(_count(details.get("cached_tokens")), prompt) if isinstance(details, dict) else 0
    input_price = pricing.get("input") or 0.0
    cached_price = pricing.get("cached")
    if cached_price is None:
        cached_price = input_price
    output_price = pricing.get("output") or 0.0
    return (
        (prompt - cached) * input_price + cached * cached_price + completion * output_price
    ) / 1e6


def is_openai_api(base_url: str) -> bool:
    """Whether ``base_url`` is OpenAI's own API, whose models the price table lists.

    Example:
        >>> is_openai_api("https://api.openai.com/v1/"), is_openai_api("http://localhost:11434/v1")
        (True, False)
    """
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host == "openai.com" or host.endswith(".openai.com")
