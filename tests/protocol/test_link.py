"""`hello` and the link's frames."""

import pytest

from protocol.link import Envelope, Hello
from tests.kits.protocol_checks import refused

CLAUDE = {
    "name": "claude",
    "label": "Claude Code",
    "kind": "command",
    "needs_file": False,
    "env": [],
    "env_missing": [],
    "models": [],
    "actions": [],
    "goal": False,
}


def test_an_empty_hello_takes_its_defaults():
    hello = Hello.model_validate({})
    assert (hello.agent_version, hello.platform, hello.capabilities, hello.executors) == ("", "", [], [])


def test_a_full_hello():
    hello = Hello.model_validate(
        {
            "agent_version": "0.1.0",
            "platform": "linux-x86_64",
            "capabilities": ["agent"],
            "executors": [CLAUDE],
        }
    )
    assert hello.executors[0].model_dump() == CLAUDE


def test_an_executor_says_which_variables_pass_and_which_it_lacks_by_name_a_long_list_cut():
    names = [f"KEY_{n}" for n in range(40)]
    executor = Hello.model_validate({"executors": [{**CLAUDE, "env": names, "env_missing": None}]}).executors[
        0
    ]
    assert (executor.env, executor.env_missing) == (names[:32], [])
    codex = {"name": "codex", "kind": "command", "env_missing": ["OPENAI_API_KEY", "CODEX_HOME"]}
    assert Hello.model_validate({"executors": [codex]}).executors[0].env_missing == [
        "OPENAI_API_KEY",
        "CODEX_HOME",
    ]


def test_an_executor_without_a_label_is_labelled_by_its_name():
    hello = Hello.model_validate({"executors": [{"name": "aider", "kind": "command"}]})
    assert (hello.executors[0].label, hello.executors[0].needs_file) == ("aider", False)


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({"capabilities": ["rm -rf"]}, "capabilities: unknown capabilities: ['rm -rf']"),
        ({"capabilities": ["agent"] * 17}, "capabilities: must have at most 16 items"),
        ({"capabilities": "agent"}, "capabilities: must be a list"),
        ({"agent_version": "1" * 33}, "agent_version: agent_version is 0-32 characters"),
        ({"agent_version": 1}, "agent_version: must be a string"),
        ({"platform": "linux\x1b[2J"}, "platform: platform must not contain control characters"),
        ({"platform": "linux\u202e"}, "platform: platform must not contain control characters"),
        ({"platform": "linux\ud800"}, "platform: platform must be valid Unicode (no lone surrogates)"),
        ({"executors": [{**CLAUDE, "name": "Claude"}]}, "executors.0.name: an executor name is 1-32 of"),
        ({"executors": [{**CLAUDE, "name": "x" * 33}]}, "executors.0.name: an executor name"),
        ({"executors": [{**CLAUDE, "kind": "shell"}]}, "executors.0.kind: must be 'command', 'openai'"),
        (
            {"executors": [{**CLAUDE, "label": "a\x00b"}]},
            "executors.0.label: a label must not contain control",
        ),
        ({"executors": [{**CLAUDE, "label": "l\udcff"}]}, "executors.0.label: a label must be valid Unicode"),
        ({"executors": [{**CLAUDE, "label": "l" * 65}]}, "executors.0.label: a label is 0-64 characters"),
        ({"executors": [{**CLAUDE, "needs_file": 1}]}, "executors.0.needs_file: must be true or false"),
        ({"executors": [{**CLAUDE, "needs_file": "yes"}]}, "executors.0.needs_file: must be true or false"),
        ({"executors": [CLAUDE] * 33}, "executors: must have at most 32 items"),
        ({"executors": ["claude"]}, "executors.0: must be an object"),
        # A name, never a value: an agent that put a key there is refused, and nothing of it kept.
        (
            {"executors": [{**CLAUDE, "env": ["OPENAI_API_KEY=sk-1"]}]},
            "executors.0.env.0: a variable name is",
        ),
        ({"executors": [{**CLAUDE, "env_missing": ["1KEY"]}]}, "executors.0.env_missing.0: a variable name"),
        ({"executors": [{**CLAUDE, "env_missing": ["K" * 65]}]}, "executors.0.env_missing.0: a variable"),
        ({"executors": [{**CLAUDE, "env": "OPENAI_API_KEY"}]}, "executors.0.env: must be a list"),
    ],
)
def test_a_bad_hello_is_refused_naming_the_field(payload, said):
    assert refused(Hello, payload).startswith(said)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "hello", "stream": "host", "seq": True, "payload": {}},
        {"type": "hello", "stream": "host", "seq": 0, "payload": {}},
        {"type": "hello", "stream": "host", "seq": 2**62, "payload": {}},
        {"type": "hello", "stream": "host", "seq": 1.0, "payload": {}},
        {"type": "hello", "stream": "host", "seq": 1, "payload": []},
        {"type": "hello", "stream": "", "seq": 1, "payload": {}},
        {"type": "hello", "stream": "s" * 33, "seq": 1, "payload": {}},
        {"type": "t" * 65, "stream": "host", "seq": 1, "payload": {}},
        {"stream": "host", "seq": 1, "payload": {}},
    ],
)
def test_a_bad_envelope_is_refused(frame):
    refused(Envelope, frame)


def test_an_envelope_keeps_its_payload_as_sent():
    deep = {"a": [[[[{"b": None}]]]]}
    assert Envelope.model_validate({"type": "x", "stream": "y", "seq": 1, "payload": deep}).payload == deep


def test_a_codex_executor_lists_its_models_and_their_efforts():
    model = {"id": "gpt-5.5", "label": "GPT-5.5", "efforts": ["low", "high"], "default_effort": "low"}
    codex = {"name": "codex", "kind": "codex", "models": [model, {"id": "tiny", "label": None}]}
    [executor] = Hello.model_validate({"executors": [codex]}).executors
    assert [m.model_dump() for m in executor.models] == [
        model,
        {"id": "tiny", "label": "", "efforts": [], "default_effort": None},
    ]


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ({"id": ""}, "a model id is 1-100 characters"),
        ({"id": "gpt\x1b[2J"}, "a model id must not contain control characters"),
        ({"id": "gpt", "efforts": ["HIGH"]}, "a reasoning effort is 1-16 of a-z"),
        ({"id": "gpt", "default_effort": "--x"}, "a reasoning effort is 1-16 of a-z"),
    ],
)
def test_a_model_the_phone_could_not_offer_is_refused(model, said):
    payload = {"executors": [{"name": "codex", "kind": "codex", "models": [model]}]}
    assert said in refused(Hello, payload)
