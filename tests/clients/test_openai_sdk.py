"""The official OpenAI Python SDK, unchanged, against chorus's /v1."""

import openai
import pytest

from conftest import delete_key


def client(server, key):
    return openai.OpenAI(base_url=f"{server}/v1", api_key=key, max_retries=0)


def test_models_list_names_the_echo_model(server, api_key):
    ids = [m.id for m in client(server, api_key["key"]).models.list()]
    assert "echo-1" in ids
    assert "echo/echo-1" in ids


def test_chat_completion_without_stream(server, api_key):
    c = client(server, api_key["key"]).chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "hello from python"}]
    )
    assert c.choices[0].message.content == "hello from python"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage.completion_tokens == 3


def test_chat_completion_streamed_with_usage(server, api_key):
    stream = client(server, api_key["key"]).chat.completions.create(
        model="echo/echo-1",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 3
    assert chunks[-1].usage.total_tokens == 8


def test_chat_completion_streamed_without_usage(server, api_key):
    stream = client(server, api_key["key"]).chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "a b"}], stream=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_revoked_key_is_an_authentication_error(server, account, api_key):
    sdk = client(server, api_key["key"])
    assert sdk.models.list().data
    delete_key(account, api_key["id"])
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="echo-1", messages=[{"role": "user", "content": "x"}])


def test_a_model_the_provider_does_not_list_is_refused(server, api_key):
    sdk = client(server, api_key["key"])
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert refused.value.status_code == 422
    assert refused.value.param == "model"
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(model="echo/no-such-model", messages=[{"role": "user", "content": "x"}])
