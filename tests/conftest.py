"""Shared test configuration: afnio's local OpenAI-compatible server fixtures for every test."""

pytest_plugins = ["afnio.testing.pytest_plugin"]
