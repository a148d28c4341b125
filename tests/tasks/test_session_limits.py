"""The hub and the host agent enforce docs/protocol.md's session limits each on
its own (the agent runs without Django); they must be the same numbers, or the
agent would send what the hub refuses."""

import pytest

from hostagent.tasks import acp_client, acp_timeline
from tasks import session_data

TIMELINE = [
    "KEY",
    "MAX_ITEMS",
    "MAX_USER_TEXT",
    "MAX_AGENT_TEXT",
    "MAX_PLAN_ENTRIES",
    "MAX_PLAN_CONTENT",
    "MAX_TITLE",
    "MAX_LOCATIONS",
    "MAX_LOCATION",
    "MAX_TOOL_TEXT",
    "MAX_DIFFS",
    "MAX_DIFF",
    "MAX_NOTICE",
    "TOOL_KINDS",
    "TOOL_STATUSES",
]
PERMISSIONS = ["MAX_OPTIONS", "MAX_OPTION_ID", "MAX_OPTION_NAME"]


@pytest.mark.parametrize("name", TIMELINE)
def test_the_timeline_limits_agree(name):
    assert getattr(acp_timeline, name) == getattr(session_data, name)


@pytest.mark.parametrize("name", PERMISSIONS)
def test_the_permission_limits_agree(name):
    assert getattr(acp_client, name) == getattr(session_data, name)
