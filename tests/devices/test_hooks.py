"""devices.hooks: what other apps plug into devices without devices importing them."""

import pytest

from devices import hooks
from tasks.checklist import first_run_checklist
from tasks.hooks import task_overview
from tasks.services import link_assignments


@pytest.fixture
def fresh_hooks(monkeypatch):
    monkeypatch.setattr(hooks, "_link_open", [])
    monkeypatch.setattr(hooks, "_host_list", [])
    monkeypatch.setattr(hooks, "_home", [])


def test_it_sends_what_each_hook_returns_in_the_order_registered(fresh_hooks):
    hooks.on_link_open(lambda *, host_id: [{"type": "a", "host": host_id}])
    hooks.on_link_open(lambda *, host_id: [{"type": "b"}, {"type": "c"}])
    assert hooks.link_open_messages(host_id=7) == [{"type": "a", "host": 7}, {"type": "b"}, {"type": "c"}]


def test_it_registers_a_hook_once(fresh_hooks):
    def hook(*, host_id):
        return [{"type": "once"}]

    hooks.on_link_open(hook)
    hooks.on_link_open(hook)
    assert hooks.link_open_messages(host_id=1) == [{"type": "once"}]


def test_it_merges_the_host_list_context(fresh_hooks):
    hooks.on_host_list(lambda *, team_id: {"a": team_id})
    hooks.on_host_list(lambda *, team_id: {"b": 2})
    assert hooks.host_list_context(team_id=5) == {"a": 5, "b": 2}


def test_it_merges_the_home_context_for_the_reader(fresh_hooks):
    hooks.on_home(lambda *, user, team_id: {"who": user, "team": team_id})
    assert hooks.home_context(user="dora", team_id=None) == {"who": "dora", "team": None}


def test_tasks_registers_its_hooks_when_the_app_is_ready():
    assert link_assignments in hooks._link_open
    assert task_overview in hooks._host_list
    assert first_run_checklist in hooks._home
