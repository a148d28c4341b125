"""Browsing a mirror by folder, finding files by name, and what an open page
hears of a large batch (issue 21)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from codexhub.asgi import application
from projects import services
from projects.models import Project
from tests.kits.common import login, make_host, page_text
from tests.kits.mirror_stream import Stream, delete, dir_change, file_change
from tests.kits.ui_socket import subscribe_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(team_a):
    stream = Stream(make_host(team_a, "Build box")[0].id)
    stream.projects("docs")
    stream.batch(
        "docs",
        dir_change("src"),
        dir_change("src/lib"),
        file_change("src/lib/deep.py", "x = 1\n"),
        file_change("src/Zeta.py"),
        file_change("src/alpha.py"),
        dir_change("src/Beta"),
        file_change("README.md", "# Hi\n"),
        reset=True,
    )
    return stream


@pytest.fixture
def project(stream):
    return Project.objects.get(name="docs")


def folder_url(project, path):
    return reverse("folder_detail", args=[project.id, path])


def rows(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('class="entry" data-path="')[1:]]


def test_a_folder_page_has_breadcrumbs_and_its_entries_folders_first(alice_client, project):
    response = alice_client.get(folder_url(project, "src"))
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html) == ["src/Beta", "src/lib", "src/alpha.py", "src/Zeta.py"]  # folders first, no case
    assert f'href="{reverse("project_detail", args=[project.id])}">docs</a>' in html
    body = page_text(response)
    assert "0 items" in body and "1 item " in body and "6\xa0bytes" in body and "just now" in body
    deep = alice_client.get(folder_url(project, "src/lib")).content.decode()
    assert f'href="{folder_url(project, "src")}">src</a>' in deep  # the crumb leads to the folder above


def test_the_project_page_shows_the_top_folder_and_counts_files_only(alice_client, project):
    html = alice_client.get(reverse("project_detail", args=[project.id])).content.decode()
    assert rows(html) == ["src", "README.md"]
    assert "4 files" in page_text(alice_client.get(reverse("project_detail", args=[project.id])))
    assert 'data-file-count="4"' in html  # 4 files; the 3 folders are not counted
    assert f'action="/projects/{project.id}/search"' in html


def test_a_large_folder_is_paged(alice_client, stream, project):
    stream.batch("docs", dir_change("big"), *[file_change(f"big/f{n:04d}.txt") for n in range(1000)])
    first = alice_client.get(folder_url(project, "big")).content.decode()
    assert len(rows(first)) == services.FOLDER_PAGE and rows(first)[0] == "big/f0000.txt"
    assert "1–100 of 1000" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert len(first.encode()) < 64 * 1024  # tens of KB, not megabytes
    last = alice_client.get(folder_url(project, "big"), {"page": "10"}).content.decode()
    assert rows(last)[-1] == "big/f0999.txt" and "901–1000 of 1000" in last
    for page in ("999", "0", "-1", "x", "9" * 40):  # out of range or not a number: a page still shows
        assert alice_client.get(folder_url(project, "big"), {"page": page}).status_code == 200


@pytest.mark.parametrize(
    "path", ["nope", "README.md", "../src", "src/../src", "/src", "%2fsrc", "src/%00", "a//b", "x" * 5000]
)
def test_a_missing_or_hostile_folder_is_404(alice_client, project, path):
    assert alice_client.get(f"/projects/{project.id}/tree/{path}").status_code == 404


def test_another_teams_folder_and_search_are_404(client, charlie, project):
    login(client, charlie)
    assert client.get(folder_url(project, "src")).status_code == 404
    assert client.get(reverse("project_search", args=[project.id]), {"q": "alpha"}).status_code == 404


def test_rows_for_a_live_page_are_those_asked_that_exist(alice_client, project):
    url = folder_url(project, "src")
    html = alice_client.get(url, {"fragment": "rows", "name": ["alpha.py", "gone.py", "../README.md"]})
    assert rows(html.content.decode()) == ["src/alpha.py"]
    too_many = alice_client.get(url, {"fragment": "rows", "name": [f"n{i}" for i in range(51)]})
    assert too_many.status_code == 400


def test_search_finds_files_by_name_across_the_project(alice_client, project):
    url = reverse("project_search", args=[project.id])
    body = page_text(alice_client.get(url, {"q": "DEEP"}))
    assert "deep.py" in body and "src/lib" in body and "1 match" in body
    assert (
        "README" not in page_text(alice_client.get(url, {"q": "src"})).split("Find")[-1]
    )  # names, not folders above
    assert "Nothing in docs" in page_text(alice_client.get(url, {"q": "nothing-like-it"}))
    assert alice_client.get(url, {"q": "x" * 201}).status_code == 400


def test_search_results_are_bounded(alice_client, stream, project):
    stream.batch("docs", *[file_change(f"many/file{n:03d}.txt") for n in range(120)])
    response = alice_client.get(reverse("project_search", args=[project.id]), {"q": "file"})
    assert response.content.decode().count('data-path="many/') == services.SEARCH_RESULTS
    assert "The first 50 matches" in page_text(response)


# What an open page hears -------------------------------------------------------------


def big_batch(stream):
    """2,000 changes in one batch; the ones the pages show are deep in it."""
    changes = [dir_change("gen"), *[dir_change(f"gen/d{n}") for n in range(20)]]
    changes += [file_change(f"gen/d{n // 100}/f{n}.txt") for n in range(1998 - len(changes))]
    changes += [file_change("src/lib/deep.py", "x = 2\n")]
    assert len(changes) == 1999
    return stream.batch("docs", *changes, delete("src/alpha.py"))


async def hears(user, project_id, scope, send_batch):
    phone = WebsocketCommunicator(
        application, "/ws/ui/", headers=await sync_to_async(subscribe_headers)(user)
    )
    assert (await phone.connect(timeout=5))[0]
    await phone.receive_json_from(timeout=5)  # hello
    await phone.send_json_to({"type": "subscribe", "project": project_id, **scope})
    assert (await phone.receive_json_from(timeout=5))["type"] == "subscribed"
    await sync_to_async(send_batch)()
    message = await phone.receive_json_from(timeout=5)
    await phone.disconnect()
    return message


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"path": "src/lib/deep.py"}, [("modified", "src/lib/deep.py")]),
        ({"path": "src/alpha.py"}, [("deleted", "src/alpha.py")]),
        ({"folder": "src"}, [("deleted", "src/alpha.py")]),
        ({"folder": "src/lib"}, [("modified", "src/lib/deep.py")]),
    ],
)
async def test_a_page_hears_its_change_deep_in_a_2000_change_batch(alice, stream, scope, expected):
    project_id = (await Project.objects.aget(name="docs")).id
    message = await hears(alice, project_id, scope, lambda: big_batch(stream))
    assert message["count"] == 2000
    assert [(c["op"], c["path"]) for c in message["changes"]] == expected


def test_a_page_hears_its_folder_deleted_or_moved():
    event = {
        "project": 1,
        "count": 4,
        "changes": [
            {"op": "deleted", "path": "src", "kind": "dir"},
            {"op": "created", "path": "lib", "kind": "dir"},
            {"op": "created", "path": "lib/a/b.py", "kind": "file"},
        ],
        "moved": {"src/a/b.py": "lib/a/b.py"},
    }
    seen = services.mirror_changes_seen
    assert seen(event=event, path="src/a/b.py")["moved_to"] == "lib/a/b.py"
    assert seen(event=event, folder="src/a")["moved_to"] == "lib/a"
    assert seen(event=event, folder="src")["moved_to"] == "lib"
    assert seen(event=event, folder="other") is None
    assert [c["path"] for c in seen(event=event, folder="")["changes"]] == ["src", "lib"]
    assert "moved_to" not in seen(event={**event, "moved": {}}, path="src/a/b.py")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_bad_folder_or_path_is_refused(alice, stream):
    project_id = (await Project.objects.aget(name="docs")).id
    phone = WebsocketCommunicator(
        application, "/ws/ui/", headers=await sync_to_async(subscribe_headers)(alice)
    )
    assert (await phone.connect(timeout=5))[0]
    await phone.receive_json_from(timeout=5)
    for scope in ({"folder": "../x"}, {"path": ""}, {"path": 3}, {"folder": "a\x00b"}, {"path": "/etc"}):
        await phone.send_json_to({"type": "subscribe", "project": project_id, **scope})
        assert await phone.receive_json_from(timeout=5) == {
            "type": "error",
            "error": "invalid folder or path",
        }
    await phone.disconnect()
