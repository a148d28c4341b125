"""Managing a host from the phone, on the hub (projects.manage): owners and admins of its team, on
a host whose agent.toml allows it, ask for its folders, share one, stop sharing a project and
restart its agent; each request is a host.manage sent at once and again on every link open
until the host answers, with an audit record. Anyone else is refused and nothing reaches the
host: a member gets 403, another team 404, a host that does not allow it 409."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from devices.hooks import link_open_messages
from devices.models import HostStream
from projects.manage import MANAGE_TTL, NOT_ALLOWED, ONE_AT_A_TIME, ONLY_MANAGERS, manage_actions_expire
from projects.models import Entry, ManageAction, Project
from tests.kits.common import SequencedStream, login, make_host, make_member, page_text
from tests.kits.mirror_stream import Stream, file_change
from tests.kits.sessions import ringing, to_host

pytestmark = pytest.mark.django_db

ROOT = "/home/ada/code"
FOLDERS = {
    "roots": [ROOT],
    "folders": [
        {"path": ROOT, "root": ROOT, "git": False, "project": None},
        {"path": f"{ROOT}/api", "root": ROOT, "git": True, "project": None},
        {"path": f"{ROOT}/notes", "root": ROOT, "git": False, "project": "notes"},
    ],
    "truncated": False,
}


class Continuing(SequencedStream):
    """A stream numbered on from where the hub is, as the agent's outbox does."""

    def send(self, kind: str, payload: dict, seq: int | None = None):
        last = HostStream.objects.filter(host_id=self.host_id, name=self.name).values_list(
            "last_seq", flat=True
        )
        self.seq = max(self.seq, last.first() or 0)
        return super().send(kind, payload, seq)


class ManageStream(Continuing):
    name = "manage"

    def result(self, request: str, ok: bool = True, **fields):
        return self.send("host.manage_result", {"request": request, "ok": ok, **fields})


class MirrorStream(Continuing, Stream):
    pass


@pytest.fixture
def host(team_a):
    host, _ = make_host(team_a, "Studio")
    host.capabilities = ["mirror", "manage"]
    host.save()
    stream = Stream(host.id)
    stream.projects("notes")
    stream.batch("notes", file_change("README.md"))
    return host


def answer(host, ok=True, **fields):
    """The host's result for its latest request."""
    action = ManageAction.objects.filter(host=host).order_by("-id").first()
    ManageStream(host.id).result(action.request, ok, **fields)
    action.refresh_from_db()
    return action


def ask(client, url, data=None):
    """GET (data None) or POST as a phone does; (response, what reached the host)."""
    with ringing() as sent:
        response = client.get(url) if data is None else client.post(url, data)
    return response, sent


def listed(client, host):
    """Open the picker, and the host answers with FOLDERS."""
    ask(client, reverse("host_folders", args=[host.id]))
    return answer(host, **FOLDERS)


def test_the_picker_asks_the_host_and_shows_its_repositories_and_folders(alice_client, host):
    response, sent = ask(alice_client, reverse("host_folders", args=[host.id]))
    action = ManageAction.objects.get()
    assert to_host(sent, host.id) == [{"type": "host.manage", "request": action.request, "action": "folders"}]
    assert "Asking Studio for its folders" in page_text(response)
    answer(host, **FOLDERS)
    page = page_text(alice_client.get(reverse("host_folders", args=[host.id]), {"fragment": "1"}))
    assert "Asking" not in page and ROOT in page
    assert 'value="/home/ada/code/api"' in page and "git</span>" in page
    assert "shared as notes" in page and "disabled" in page
    _, sent = ask(alice_client, reverse("host_folders", args=[host.id]))  # just answered: not asked again
    assert to_host(sent, host.id) == [] and ManageAction.objects.count() == 1


def test_sharing_a_listed_folder_sends_it_and_the_project_appears_when_the_host_shares_it(alice_client, host):
    listed(alice_client, host)
    response, sent = ask(
        alice_client, reverse("host_folder_add", args=[host.id]), {"path": f"{ROOT}/api", "name": ""}
    )
    assert response.status_code == 302 and response.url == reverse("host_manage", args=[host.id])
    action = ManageAction.objects.get(action="add_project")
    assert to_host(sent, host.id) == [
        {
            "type": "host.manage",
            "request": action.request,
            "action": "add_project",
            "path": f"{ROOT}/api",
            "name": "api",
        }
    ]
    page = page_text(alice_client.get(reverse("host_manage", args=[host.id])))
    assert "Waiting for Studio: share a folder api…" in page
    answer(host, project="api", path=f"{ROOT}/api")
    MirrorStream(host.id).send(
        "mirror.projects", {"projects": [{"name": "notes"}, {"name": "api", "git": True}]}
    )
    page = page_text(alice_client.get(reverse("host_manage", args=[host.id])))
    assert "Now sharing api" in page, page[page.find("live-region") :][:1500]
    assert 'data-project="api"' in page
    audited = AuditEvent.objects.filter(action__startswith="host.manage").values_list("action", flat=True)
    assert sorted(audited) == ["host.manage.add_project.requested", "host.manage.add_project.succeeded"]


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"path": "/etc", "name": "etc"}, 400, "Pick a folder from the list Studio gave"),
        ({"path": f"{ROOT}/../../etc", "name": "x"}, 400, "Pick a folder from the list Studio gave"),
        ({"path": f"{ROOT}/notes", "name": "again"}, 409, "is shared already, as notes"),
        ({"path": f"{ROOT}/api", "name": "notes"}, 409, "Studio shares a project named notes already"),
        ({"path": f"{ROOT}/api", "name": "a/b"}, 400, "must not contain / or control characters"),
        ({"path": f"{ROOT}/api", "name": "a\x1bb"}, 400, "must not contain / or control characters"),
        ({"path": f"{ROOT}/api", "name": "n" * 65}, 400, "at most 64 characters"),
    ],
)
def test_a_folder_not_listed_or_a_bad_name_is_refused_and_nothing_is_sent(
    alice_client, host, data, status, message
):
    listed(alice_client, host)
    response, sent = ask(alice_client, reverse("host_folder_add", args=[host.id]), data)
    assert response.status_code == status and message in page_text(response)
    assert to_host(sent, host.id) == [] and not ManageAction.objects.exclude(action="folders").exists()


def test_stop_sharing_sends_the_name_and_the_mirror_goes_when_the_host_stops_sharing(alice_client, host):
    project = Project.objects.get(host=host, name="notes")
    assert Entry.objects.filter(project=project).exists()
    page = page_text(alice_client.get(reverse("host_manage", args=[host.id])))
    assert "The files stay on Studio, untouched. The hub forgets its mirror" in page
    _, sent = ask(alice_client, reverse("host_project_remove", args=[host.id]), {"project": project.id})
    action = ManageAction.objects.get()
    assert to_host(sent, host.id) == [
        {"type": "host.manage", "request": action.request, "action": "remove_project", "name": "notes"}
    ]
    answer(host, project="notes")
    MirrorStream(host.id).projects()  # the agent applied its agent.toml: it shares nothing now
    project.refresh_from_db()
    assert project.removed_at is not None and not Entry.objects.filter(project=project).exists()
    assert 'data-project="notes"' not in page_text(alice_client.get(reverse("host_manage", args=[host.id])))


def test_restart_is_sent_once_and_one_change_waits_at_a_time(alice_client, host):
    _, sent = ask(alice_client, reverse("host_restart", args=[host.id]), {})
    action = ManageAction.objects.get()
    assert to_host(sent, host.id) == [{"type": "host.manage", "request": action.request, "action": "restart"}]
    response, sent = ask(alice_client, reverse("host_restart", args=[host.id]), {})
    assert response.status_code == 409 and to_host(sent, host.id) == []
    assert ONE_AT_A_TIME.format(host="Studio", action="restart the agent") in page_text(response)
    # The host was away: the request goes again when its link opens, until it answers.
    assert link_open_messages(host_id=host.id)[-1] == action.params
    answer(host)
    assert action.params not in link_open_messages(host_id=host.id)
    ManageStream(host.id).result(action.request, False, error="late")
    action.refresh_from_db()
    assert action.state == "succeeded"  # a second answer changes nothing


def test_a_host_that_never_answers_fails_its_request_after_the_ttl(alice_client, host):
    ask(alice_client, reverse("host_restart", args=[host.id]), {})
    assert manage_actions_expire() == 0
    assert manage_actions_expire(now=timezone.now() + timedelta(seconds=MANAGE_TTL + 1)) == 1
    action = ManageAction.objects.get()
    assert (action.state, action.error) == ("failed", "the host did not answer")
    assert "host.manage.restart.failed" in AuditEvent.objects.values_list("action", flat=True)
    page = page_text(alice_client.get(reverse("host_manage", args=[host.id])))
    assert "Studio did not restart the agent" in page and "the host did not answer" in page


def test_the_hosts_refusal_is_shown_in_its_own_words(alice_client, host):
    ask(alice_client, reverse("host_restart", args=[host.id]), {})
    answer(host, False, error="this host does not let the hub manage it")
    page = page_text(alice_client.get(reverse("host_manage", args=[host.id])))
    assert "this host does not let the hub manage it" in page


# Who may ---------------------------------------------------------------------------------------

URLS = [
    ("host_manage", None),
    ("host_folders", None),
    ("host_folder_add", {"path": f"{ROOT}/api", "name": "api"}),
    ("host_project_remove", "project"),
    ("host_restart", {}),
]


def _data(host, data):
    if data == "project":
        return {"project": Project.objects.get(host=host, name="notes").id}
    return data


@pytest.mark.parametrize(("name", "data"), URLS)
def test_a_member_without_the_right_gets_403_and_nothing_reaches_the_host(client, bob, host, name, data):
    response, sent = ask(login(client, bob), reverse(name, args=[host.id]), _data(host, data))
    assert response.status_code == 403
    assert ONLY_MANAGERS.format(host="Studio") in page_text(response)
    assert to_host(sent, host.id) == [] and not ManageAction.objects.exists()


@pytest.mark.parametrize(("name", "data"), URLS)
def test_another_team_gets_404_and_nothing_reaches_the_host(client, charlie, host, name, data):
    response, sent = ask(login(client, charlie), reverse(name, args=[host.id]), _data(host, data))
    assert response.status_code == 404
    assert to_host(sent, host.id) == [] and not ManageAction.objects.exists()


@pytest.mark.parametrize(("name", "data"), URLS)
def test_a_host_that_does_not_allow_it_gets_409_with_what_to_do(alice_client, host, name, data):
    host.capabilities = ["mirror"]
    host.save()
    response, sent = ask(alice_client, reverse(name, args=[host.id]), _data(host, data))
    assert response.status_code == 409
    assert NOT_ALLOWED.format(host="Studio") in page_text(response)
    assert to_host(sent, host.id) == [] and not ManageAction.objects.exists()


def test_an_admin_may_and_the_host_page_offers_it_only_to_managers_of_a_host_that_allows_it(
    client, team_a, bob, host
):
    admin = make_member(team_a, "dana@example.com", Role.ADMIN)
    page = page_text(login(client, admin).get(reverse("host_detail", args=[host.id])))
    assert 'id="host-manage"' in page
    _, sent = ask(client, reverse("host_restart", args=[host.id]), {})
    assert len(to_host(sent, host.id)) == 1
    client.logout()
    assert 'id="host-manage"' not in page_text(login(client, bob).get(reverse("host_detail", args=[host.id])))
    host.capabilities = ["mirror"]
    host.save()
    page = page_text(login(client, admin).get(reverse("host_detail", args=[host.id])))
    assert (
        'id="host-manage"' not in page and "add <code>[manage]</code> with <code>allow = true</code>" in page
    )


def test_a_result_for_another_hosts_request_is_ignored(alice_client, team_a, host):
    ask(alice_client, reverse("host_restart", args=[host.id]), {})
    action = ManageAction.objects.get()
    other, _ = make_host(team_a, "Other")
    ManageStream(other.id).result(action.request, True)
    action.refresh_from_db()
    assert action.pending
