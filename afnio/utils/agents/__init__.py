"""Ready-made agents (afnio 0.3.7's ``afnio.utils.agents``)."""

from afnio.utils.agents.sentiment_analyzer import SENTIMENT_RESPONSE_FORMAT, SentimentAnalyzer

__all__ = ["SENTIMENT_RESPONSE_FORMAT", "SentimentAnalyzer"]
