"""The labeler's fixtures: the fake chat-completions endpoint the LLM teacher talks to."""

from tests.chat_server import chat_server_factory

__all__ = ["chat_server_factory"]
