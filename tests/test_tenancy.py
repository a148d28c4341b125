"""SECURITY.md case 28: every detail URL answers another team's id with 404,
the same page as an id that does not exist. The URLs come from the URLconf, so
a new view is covered (or fails here until its id kinds are known)."""

import itertools
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from push_notifications.models import WebPushDevice

from accounts.models import Membership
from devices import agent_dist
from devices.models import Host
from notifications.models import InboxEntry
from projects.models import Project
from tasks.models import PermissionRequest, Task
from tests.kits.common import make_host, page_text
from tests.kits.mirror_stream import Stream, file_change
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db

OUR_APPS = ("accounts.", "devices.", "projects.", "tasks.", "notifications.", "codexhub.")
# Bearer links whose secret is the capability: not scoped to a team.
CAPABILITY_URLS = {"invitation_accept"}
MISSING_ID = 987654321


def our_detail_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from our_detail_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            module = getattr(entry.callback, "__module__", "")
            if module.startswith(OUR_APPS) and entry.pattern.converters and entry.name not in CAPABILITY_URLS:
                yield entry


def comparable(response, url: str) -> str:
    """The page without what differs between any two requests: the CSRF
    token and the requested path (the team menu's return address)."""
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page_text(response))
    return text.replace(url, "<url>")


def foreign_ids(kwarg: str, own_team, foreign_team) -> list[int]:
    """Ids that alice must not reach for each kind of kwarg."""
    if kwarg == "team_id":
        return [foreign_team.id]
    if kwarg == "member_id":
        return [Membership.objects.filter(team=foreign_team).first().id]
    if kwarg == "host_id":
        return [Host.objects.filter(team=foreign_team).first().id]
    if kwarg == "project_id":
        return [Project.objects.filter(host__team=foreign_team).first().id]
    if kwarg == "path":
        return []  # a path means something only inside its project
    if kwarg == "task_id":
        return [Task.objects.filter(team=foreign_team).first().id]
    if kwarg == "permission_id":
        return [PermissionRequest.objects.filter(task__team=foreign_team).first().id]
    if kwarg == "device_id":  # a phone belongs to a person: charlie's
        return [WebPushDevice.objects.exclude(user__memberships__team=own_team).first().id]
    if kwarg == "entry_id":  # an inbox entry belongs to a person: charlie's
        return [InboxEntry.objects.exclude(user__memberships__team=own_team).first().id]
    if kwarg in ("kind", "name", "run"):  # a test run means something only to the session that sent it
        return []
    if kwarg == "request_id":  # a file request means something only to the host asked (its token)
        return []
    if kwarg == "action":  # a git decision means something only on its task
        return []
    if kwarg == "filename":  # the agent's wheel: public code, the same for every team
        return []
    raise AssertionError(f"test_tenancy does not know URL kwarg {kwarg!r}: add it to foreign_ids")


def own_ids(kwarg: str, own_team) -> list[int]:
    if kwarg == "team_id":
        return [own_team.id]
    if kwarg == "member_id":
        return [Membership.objects.filter(team=own_team).first().id]
    if kwarg == "host_id":
        return [Host.objects.filter(team=own_team).first().id]
    if kwarg == "project_id":
        return [Project.objects.filter(host__team=own_team).first().id]
    if kwarg == "path":
        return ["README.md"]
    if kwarg == "task_id":
        return [Task.objects.filter(team=own_team).first().id]
    if kwarg == "permission_id":
        return [PermissionRequest.objects.filter(task__team=own_team).first().id]
    if kwarg == "device_id":
        return [WebPushDevice.objects.filter(user__memberships__team=own_team).first().id]
    if kwarg == "kind":
        return ["webpush"]
    if kwarg == "name":
        return ["step-1.png"]
    if kwarg == "entry_id":
        return [InboxEntry.objects.filter(user__memberships__team=own_team).first().id]
    if kwarg == "run":
        return [1]
    if kwarg == "request_id":
        return ["0123456789abcdef0123"]
    if kwarg == "action":
        return ["commit"]
    if kwarg == "filename":
        return [agent_dist.wheel_name()]
    raise AssertionError(f"test_tenancy does not know URL kwarg {kwarg!r}")


def test_the_urlconf_has_detail_urls_to_check():
    names = {pattern.name for pattern in our_detail_patterns()}
    assert {
        "team_detail",
        "team_invite",
        "member_role",
        "member_remove",
        "host_detail",
        "host_revoke",
        "task_detail",
        "task_log",
        "task_cancel",
        "task_rerun",
        "task_git",
        "task_continue",
        "project_repo",
        "project_screen",
        "host_git_role",
        "host_manage",
        "host_folders",
        "host_folder_add",
        "host_project_remove",
        "host_restart",
    } <= names


def test_another_teams_ids_answer_404_like_missing_ones(alice_client, alice, bob, team_a, team_b, charlie):
    own_host, _ = make_host(team_a, "Alice's box")
    foreign_host, _ = make_host(team_b, "Charlie's box")
    for host in (own_host, foreign_host):
        stream = Stream(host.id)
        stream.projects("docs")
        stream.batch("docs", file_change("README.md"))
        task = make_task(Project.objects.get(host=host), alice, state="running", session_state="waiting")
        options = [{"option_id": "allow", "name": "Allow", "kind": "allow_once"}]
        PermissionRequest.objects.create(task=task, request_id="p1", title="Edit", options=options)
    for person in (alice, charlie):
        WebPushDevice.objects.create(user=person, registration_id=f"https://fcm.googleapis.com/{person.id}")
        InboxEntry.objects.create(user=person, key="task:1", title="Done")
    checked = 0
    for pattern in our_detail_patterns():
        kwargs = list(pattern.pattern.converters)
        # Every mix of own and foreign ids in which at least one is foreign.
        choices = [
            [("own", v) for v in own_ids(k, team_a)]
            + [("foreign", v) for v in foreign_ids(k, team_a, team_b)]
            for k in kwargs
        ]
        for combo in itertools.product(*choices):
            if all(kind == "own" for kind, _ in combo):
                continue
            values = dict(zip(kwargs, (value for _, value in combo), strict=True))
            missing = {
                k: (MISSING_ID if kind == "foreign" else v)
                for k, (kind, v) in zip(kwargs, combo, strict=True)
            }
            for method in ("get", "post"):
                url, missing_url = reverse(pattern.name, kwargs=values), reverse(pattern.name, kwargs=missing)
                response = getattr(alice_client, method)(url)
                if response.status_code == 405:
                    continue
                baseline = getattr(alice_client, method)(missing_url)
                where = f"{method.upper()} {pattern.name} {values}"
                assert response.status_code == 404, where
                assert comparable(response, url) == comparable(baseline, missing_url), where
                checked += 1
    assert checked >= 8
    # Nothing changed in team B.
    assert Membership.objects.filter(team=team_b).count() == 1
    foreign_host.refresh_from_db()
    assert (foreign_host.name, foreign_host.state) == ("Charlie's box", "active")
