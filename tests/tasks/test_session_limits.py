"""The hub and the host agent take docs/protocol.md's numbers from one place
(protocol.limits), and the hub's database choices hold exactly the values the
protocol's models let through: a value the models accept must be storable."""

import pytest

from hostagent.tasks import acp_client, acp_timeline, changes, output
from projects.models import EntryKind
from protocol import limits
from tasks.models import FileOp, ItemKind, OnTimeout, PermissionOutcome, SessionState

AGENT = [
    (acp_timeline, "MAX_ITEMS"),
    (acp_timeline, "MAX_USER_TEXT"),
    (acp_timeline, "MAX_AGENT_TEXT"),
    (acp_timeline, "MAX_PLAN_ENTRIES"),
    (acp_timeline, "MAX_PLAN_CONTENT"),
    (acp_timeline, "MAX_TITLE"),
    (acp_timeline, "MAX_LOCATIONS"),
    (acp_timeline, "MAX_LOCATION"),
    (acp_timeline, "MAX_TOOL_TEXT"),
    (acp_timeline, "MAX_DIFFS"),
    (acp_timeline, "MAX_NOTICE"),
    (acp_timeline, "TOOL_KINDS"),
    (acp_timeline, "TOOL_STATUSES"),
    (acp_client, "MAX_OPTIONS"),
    (acp_client, "MAX_OPTION_ID"),
    (acp_client, "MAX_OPTION_NAME"),
    (changes, "MAX_DIFF"),
]


@pytest.mark.parametrize(("module", "name"), AGENT, ids=[f"{m.__name__}.{n}" for m, n in AGENT])
def test_the_agent_uses_the_protocols_numbers(module, name):
    assert getattr(module, name) is getattr(limits, name)


def test_the_agent_cuts_what_it_sends_within_the_protocol():
    assert acp_timeline.KEY is limits.ITEM_KEY
    assert changes.MAX_CHANGES == limits.MAX_FILE_CHANGES
    assert output.MAX_PIECE == limits.MAX_LOG_PIECE <= limits.MAX_LOG_TEXT


@pytest.mark.parametrize(
    ("choices", "values"),
    [
        (ItemKind, limits.ITEM_KINDS),
        (OnTimeout, limits.ON_TIMEOUT),
        (PermissionOutcome, limits.CLOSE_OUTCOMES),
        (FileOp, limits.FILE_OPS),
        (EntryKind, limits.ENTRY_KINDS),
    ],
)
def test_the_database_stores_every_value_the_protocol_takes(choices, values):
    assert set(choices.values) == set(values)


def test_a_turns_states_are_session_states():
    assert set(limits.TURN_STATES) <= set(SessionState.values)
