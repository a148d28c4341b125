"""The `browser` executor with Debian's real Chromium against a site on loopback (SECURITY.md 73).

No Playwright mocks: each task launches the browser, the FakeHub sees `task.*` messages, and a
FakeArtifactApi takes the uploads. `elsewhere` is a second loopback site off the allow-list: it
must never see a request. After every test no Chromium (or Playwright driver) process is left.
"""

import contextlib
import os
import re
import time

import pytest

from hostagent.config import ExecutorConfig
from tests.kits.agent_tasks import (
    CHROMIUM,
    NO_ENV,
    Site,
    alive,
    applied,
    browser_config,
    browser_processes,
    events,
    finished,
    log_text,
    running_agent,
)
from tests.kits.fakehub import TOKEN, FakeArtifactApi, wait_for

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def sites():
    elsewhere = Site().start()
    site = Site(other=elsewhere).start()
    yield site, elsewhere
    site.stop()
    elsewhere.stop()


@pytest.fixture
def site(sites):
    for each in sites:
        each.clear()
    return sites[0]


@pytest.fixture
def elsewhere(sites):
    return sites[1]


@pytest.fixture(autouse=True)
def no_browser_left():
    yield
    deadline = time.monotonic() + 5
    while browser_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert browser_processes() == []


@contextlib.asynccontextmanager
async def running(tmp_path, cfg):
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    with FakeArtifactApi() as artifacts:
        async with running_agent(tmp_path, cfg, {"docs": root}, uploads_to=artifacts.url) as (hub, agent):
            yield agent, hub, artifacts


async def run_steps(agent, hub, task_id, steps, timeout=30):
    await agent.assign(task_id, "docs", "browser", "Check the order form", steps=steps)
    return await finished(hub, task_id, timeout)


def ok(index, action, text=None, artifact=None):
    return {"index": index, "action": action, "ok": True, "error": "", "text": text, "artifact": artifact}


def sent_steps(hub, task_id):
    """The step results the agent sent as `task.step`, in order."""
    return [payload["step"] for payload in applied(hub, "task.step", task_id)]


async def test_it_runs_the_form_flow_and_uploads_the_artifacts(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/form"},
        {"action": "fill", "selector": "#name", "value": "Ada"},
        {"action": "select", "selector": "#size", "value": "L"},
        {"action": "read", "selector": "#note", "attribute": "data-kind"},
        {"action": "click", "selector": "button[type=submit]"},
        {"action": "wait", "text": "Thanks, Ada"},
        {"action": "read", "selector": "#result"},
        {"action": "screenshot", "full_page": True},
        {"action": "pdf"},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, artifacts):
        started = time.monotonic()
        done = await run_steps(agent, hub, 1, steps)
        elapsed = time.monotonic() - started
        hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
        text = log_text(hub, 1)
    assert (done["outcome"], done["exit_code"], done["error"], done["changes"]) == (
        "succeeded",
        None,
        None,
        [],
    )
    assert done["steps"] == [
        ok(0, "open"),
        ok(1, "fill"),
        ok(2, "select"),
        ok(3, "read", text="order-form"),
        ok(4, "click"),
        ok(5, "wait"),
        ok(6, "read", text="Thanks, Ada"),
        ok(7, "screenshot", artifact="step-7.png"),
        ok(8, "pdf", artifact="step-8.pdf"),
    ]
    assert site.seen() == ["/form", "/result?name=Ada&size=L"]
    png_type, png = artifacts.uploads["step-7.png"]
    pdf_type, pdf = artifacts.uploads["step-8.pdf"]
    assert (png_type, png[:8]) == ("image/png", b"\x89PNG\r\n\x1a\n")
    assert (pdf_type, pdf[:5]) == ("application/pdf", b"%PDF-")
    assert [(path, auth) for path, _, auth, _ in artifacts.requests] == [
        ("/api/host/tasks/1/artifacts/step-7.png", f"Bearer {TOKEN}"),
        ("/api/host/tasks/1/artifacts/step-8.pdf", f"Bearer {TOKEN}"),
    ]
    assert f'step 1 open "{site.url}/form": ok\n' in text
    assert 'step 2 fill "#name": ok\n' in text
    assert 'step 7 read "#result": ok\n' in text
    assert events(hub, 1)[:2] == [("task.received", 1), ("task.started", 1)]
    assert events(hub, 1)[-1] == ("task.finished", 1)
    assert {
        "name": "browser",
        "label": "Chromium",
        "kind": "browser",
        "needs_file": False,
        **NO_ENV,
    } in hello["executors"]
    assert "browser" in hello["capabilities"] and "agent" in hello["capabilities"]
    assert elapsed < 15


async def test_it_sends_each_steps_result_as_it_ends(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/later"},
        {"action": "read", "selector": "#first"},
        {"action": "wait", "text": "Released", "timeout": 30},
        {"action": "read", "selector": "#later"},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        await agent.assign(1, "docs", "browser", "Wait for the release", steps=steps)
        await wait_for(lambda: len(sent_steps(hub, 1)) >= 2, 20, "the first two steps")
        # Step 3 waits for text the page shows only once released: it still runs.
        assert sent_steps(hub, 1) == [ok(0, "open"), ok(1, "read", text="Ready")]
        assert ("task.finished", 1) not in events(hub, 1)
        site.gate.release()
        done = await finished(hub, 1, 30)
        sent, order = sent_steps(hub, 1), events(hub, 1)
    assert done["outcome"] == "succeeded", done["error"]
    assert (
        sent
        == done["steps"]
        == [ok(0, "open"), ok(1, "read", "Ready"), ok(2, "wait"), ok(3, "read", "Released")]
    )
    assert [kind for kind, _ in order if kind != "task.log"][-5:] == ["task.step"] * 4 + ["task.finished"]


async def test_it_presses_keys_and_waits_for_a_selector(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/form"},
        {"action": "fill", "selector": "#name", "value": "Bob"},
        {"action": "press", "key": "Tab"},
        {"action": "press", "selector": "#name", "key": "Enter"},
        {"action": "wait", "selector": "#result", "text": "Bob"},
        {"action": "read", "selector": "#result"},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
    assert done["outcome"] == "succeeded", done["error"]
    assert done["steps"][-1]["text"] == "Thanks, Bob"


async def test_service_workers_are_blocked_so_they_cannot_go_around_the_allow_list(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/worker"},
        {"action": "wait", "selector": "#worker:not(:text-is('pending'))"},
        {"action": "read", "selector": "#worker"},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
    assert done["outcome"] == "succeeded", done["error"]
    # Playwright answers the registration without installing anything.
    assert done["steps"][-1]["text"] == "registrations: 0"
    assert "/sw.js" not in site.seen()


async def test_it_fails_a_step_that_times_out_and_stops_there(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/form"},
        {"action": "wait", "text": "Never there", "timeout": 1},
        {"action": "click", "selector": "button"},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
        text, sent = log_text(hub, 1), sent_steps(hub, 1)
    error = 'step 2 (wait "Never there"): timed out after 1 s'
    assert (done["outcome"], done["error"], done["exit_code"]) == ("failed", error, None)
    assert done["steps"] == [
        ok(0, "open"),
        {"index": 1, "action": "wait", "ok": False, "error": error, "text": None, "artifact": None},
    ]
    assert sent == done["steps"]  # the failed step's result went out too, and nothing after it
    assert 'step 2 wait "Never there": failed: timed out after 1 s\n' in text


async def test_it_names_a_selector_that_matches_nothing(tmp_path, site):
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        missing = await run_steps(
            agent,
            hub,
            1,
            [
                {"action": "open", "url": f"{site.url}/form"},
                {"action": "click", "selector": "#nope", "timeout": 1},
            ],
        )
        hidden = await run_steps(
            agent,
            hub,
            2,
            [
                {"action": "open", "url": f"{site.url}/form"},
                {"action": "wait", "selector": "#hidden", "timeout": 1},
            ],
        )
        several = await run_steps(
            agent,
            hub,
            3,
            [{"action": "open", "url": f"{site.url}/form"}, {"action": "read", "selector": "p"}],
        )
    assert missing["error"] == 'step 2 (click "#nope"): no element matches "#nope" (waited 1 s)'
    assert (
        hidden["error"] == 'step 2 (wait "#hidden"): timed out after 1 s ("#hidden" is there but not visible)'
    )
    assert several["error"] == 'step 2 (read "p"): 2 elements match; the step needs exactly one'


@pytest.mark.parametrize(
    "url, error",
    [
        ("http://evil.example/", "step 1 (open): site not allowed: evil.example"),
        ("https://evil.example:8443/x", "step 1 (open): site not allowed: evil.example:8443"),
        ("file:///etc/passwd", "step 1 (open): site not allowed: file: URLs"),
        ("javascript:alert(1)", "step 1 (open): site not allowed: javascript: URLs"),
        ("chrome://settings", "step 1 (open): site not allowed: chrome: URLs"),
        ("ELSEWHERE/", "step 1 (open): site not allowed: ELSEWHERE"),
        ("http://169.254.169.254/latest", "step 1 (open): site not allowed: 169.254.169.254"),
    ],
)
async def test_it_refuses_to_open_a_site_off_the_list_before_any_request(
    tmp_path, site, elsewhere, url, error
):
    url = url.replace("ELSEWHERE", elsewhere.url)
    error = error.replace("ELSEWHERE", elsewhere.netloc)
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, [{"action": "open", "url": url}])
        # A later step off the list fails the task before the first one ran.
        later = await run_steps(
            agent, hub, 2, [{"action": "open", "url": f"{site.url}/form"}, {"action": "open", "url": url}]
        )
    assert (done["outcome"], done["error"]) == ("failed", error)
    assert later["error"] == error.replace("step 1", "step 2")
    assert events(hub, 1) == [("task.received", 1), ("task.finished", 1)]  # never started
    assert site.seen() == [] and elsewhere.seen() == []


async def test_it_stops_a_redirect_to_a_site_off_the_list(tmp_path, site, elsewhere):
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        evil = await run_steps(agent, hub, 1, [{"action": "open", "url": f"{site.url}/go-away"}])
        local = await run_steps(agent, hub, 2, [{"action": "open", "url": f"{site.url}/go-elsewhere"}])
    assert (evil["outcome"], evil["error"]) == (
        "failed",
        "step 1 (open): redirected to evil.example, not allowed",
    )
    assert local["error"] == f"step 1 (open): redirected to {elsewhere.netloc}, not allowed"
    assert local["steps"][0]["ok"] is False
    assert site.seen() == ["/go-away", "/go-elsewhere"]
    assert elsewhere.seen() == []  # the proxy refused it: the redirect target saw nothing


async def test_it_blocks_requests_to_sites_off_the_list_from_an_allowed_page(tmp_path, site, elsewhere):
    pictures = [
        {"action": "open", "url": f"{site.url}/pictures"},
        {"action": "wait", "selector": "#fetched"},
        {"action": "wait", "selector": "#socket-closed"},
    ]
    away = [{"action": "open", "url": f"{site.url}/form"}, {"action": "click", "selector": "#away"}]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        page = await run_steps(agent, hub, 1, pictures)
        text = log_text(hub, 1)
        link = await run_steps(agent, hub, 2, away)
    assert page["outcome"] == "succeeded", page["error"]  # a blocked picture does not fail the page
    assert "blocked by the allow-list: http://169.254.169.254/x.png\n" in text
    assert f"blocked by the allow-list: {elsewhere.url}/img.png\n" in text
    assert f"blocked by the allow-list: {elsewhere.url}/api\n" in text
    assert f"blocked by the allow-list: {elsewhere.url.replace('http:', 'ws:')}/socket\n" in text
    assert link["error"] == f'step 2 (click "#away"): blocked by the allow-list: {elsewhere.url}/x'
    assert site.seen() == ["/pictures", "/form"]
    assert elsewhere.seen() == []


@pytest.mark.parametrize(
    "steps, error",
    [
        ([{"action": "hover", "selector": "#x"}], 'step 1: unknown action "hover" (use one of open, click,'),
        ([{"action": "click"}], "step 1 (click): selector is required"),
        ([{"action": "wait", "timeout": 5}], "step 1 (wait): selector or text is required"),
        (
            [{"action": "click", "selector": "#a", "timeout": "5"}],
            "step 1 (click): timeout must be 1-120 seconds",
        ),
        (
            [{"action": "click", "selector": "#a", "timeout": 121}],
            "step 1 (click): timeout must be 1-120 seconds",
        ),
        (
            [{"action": "screenshot", "full_page": "yes"}],
            "step 1 (screenshot): full_page must be true or false",
        ),
        ([{"action": "pdf", "selector": "#a"}], 'step 1 (pdf): unknown field "selector"'),
        ([{"action": "fill", "selector": "#a", "value": 3}], "step 1 (fill): value must be text of 1-2000"),
        (
            [{"action": "read", "selector": "x" * 501}],
            "step 1 (read): selector must be text of 1-500 characters",
        ),
        ([{"action": "wait", "text": "y" * 2001}], "step 1 (wait): text must be text of 1-2000 characters"),
        ([{"action": "open", "url": "SITE/form"}, "click"], "step 2: not an object"),
        (
            [{"action": "open", "url": "SITE/form"}] * 51,
            "a browser task has at most 50 steps (this one has 51)",
        ),
        ([], "a browser task needs a list of 1-50 steps"),
        ("open the page", "a browser task needs a list of 1-50 steps"),
        (None, "a browser task needs a list of 1-50 steps"),
    ],
)
async def test_it_refuses_a_malformed_step_list_before_the_browser_starts(tmp_path, site, steps, error):
    if isinstance(steps, list):
        steps = [
            dict(s, url=s["url"].replace("SITE", site.url)) if isinstance(s, dict) and "url" in s else s
            for s in steps
        ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        await agent.assign(1, "docs", "browser", "Check", steps=steps)  # None: no steps at all
        done = await finished(hub, 1)
    assert done["outcome"] == "failed" and done["error"].startswith(error)
    assert events(hub, 1) == [("task.received", 1), ("task.finished", 1)]
    assert site.seen() == []


async def test_it_refuses_steps_for_an_executor_that_is_not_a_browser(tmp_path, site):
    cfg = browser_config(tmp_path, site)
    cfg.executors["plain"] = ExecutorConfig(command=["/bin/true"])
    async with running(tmp_path, cfg) as (agent, hub, _):
        await agent.assign(1, "docs", "plain", "run", steps=[{"action": "pdf"}])
        done = await finished(hub, 1)
    assert done["error"] == "executor 'plain' takes a prompt, not browser steps"


async def test_it_cancels_a_long_wait_and_closes_the_browser(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/form"},
        {"action": "wait", "text": "never", "timeout": 60},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        await agent.assign(1, "docs", "browser", "Wait", steps=steps)
        await wait_for(lambda: "step 1 open" in log_text(hub, 1), 20, "the page to open")
        pids = [p.pid for p in browser_processes()]
        assert any("chrom" in p.name().lower() for p in browser_processes())
        await agent.cancel(1)
        cancelled_at = time.monotonic()
        done = await finished(hub, 1)
        took = time.monotonic() - cancelled_at
    assert done["outcome"] == "cancelled" and done["exit_code"] is None
    assert done["steps"] == [
        ok(0, "open"),
        {
            "index": 1,
            "action": "wait",
            "ok": False,
            "error": 'step 2 (wait "never"): cancelled',
            "text": None,
            "artifact": None,
        },
    ]
    assert took < 5
    await wait_for(lambda: not alive(pids), 5, "the browser's processes to end")


async def test_it_times_out_the_whole_task_and_closes_the_browser(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/form"},
        {"action": "wait", "text": "never", "timeout": 60},
    ]
    async with running(tmp_path, browser_config(tmp_path, site, timeout=3)) as (agent, hub, _):
        started = time.monotonic()
        done = await run_steps(agent, hub, 1, steps)
        took = time.monotonic() - started
    assert (done["outcome"], done["error"]) == ("failed", "timed out after 3 s")
    assert done["steps"][1]["error"] == 'step 2 (wait "never"): the task timed out after 3 s'
    assert 3 <= took < 8


async def test_it_times_out_a_slow_page(tmp_path, site):
    steps = [{"action": "open", "url": f"{site.url}/slow?seconds=3", "timeout": 1}]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
    assert done["error"] == "step 1 (open): timed out after 1 s"


async def test_it_fails_the_step_when_the_upload_fails_after_retries(tmp_path, site):
    steps = [
        {"action": "open", "url": f"{site.url}/form"},
        {"action": "screenshot"},
        {"action": "read", "selector": "#note"},
    ]
    async with running(tmp_path, browser_config(tmp_path, site)) as (agent, hub, artifacts):
        artifacts.statuses = [500, 502, 503]
        failed = await run_steps(agent, hub, 1, steps)
        tries = len(artifacts.requests)
        artifacts.statuses = [503]
        retried = await run_steps(agent, hub, 2, steps)
    assert failed["error"] == "step 2 (screenshot): cannot upload step-1.png to the hub: refused"
    assert len(failed["steps"]) == 2 and tries == 3
    assert retried["outcome"] == "succeeded"
    assert retried["steps"][1]["artifact"] == "step-1.png"
    assert artifacts.uploads["step-1.png"][1][:4] == b"\x89PNG"


async def test_it_refuses_a_screenshot_over_the_limit(tmp_path, site):
    steps = [{"action": "open", "url": f"{site.url}/form"}, {"action": "screenshot", "full_page": True}]
    async with running(tmp_path, browser_config(tmp_path, site, screenshot_max_bytes=1024)) as (
        agent,
        hub,
        art,
    ):
        done = await run_steps(agent, hub, 1, steps)
        text = log_text(hub, 1)
    assert re.fullmatch(
        r"step 2 \(screenshot\): the screenshot is \d+ bytes, over screenshot_max_bytes \(1024\)",
        done["error"],
    )
    assert "kept the viewport" not in text  # tried, but the viewport alone is too large as well
    assert art.requests == []


async def test_it_keeps_the_viewport_when_the_full_page_is_over_the_limit(tmp_path, site):
    steps = [{"action": "open", "url": f"{site.url}/noise"}, {"action": "screenshot", "full_page": True}]
    cfg = browser_config(tmp_path, site, screenshot_max_bytes=60_000)
    async with running(tmp_path, cfg) as (agent, hub, artifacts):
        done = await run_steps(agent, hub, 1, steps)
        text = log_text(hub, 1)
    assert done["outcome"] == "succeeded", done["error"]
    assert re.search(r"step 2 screenshot: ok \(the full page was \d+ bytes: kept the viewport\)\n", text)
    content_type, png = artifacts.uploads["step-1.png"]
    assert png[:4] == b"\x89PNG" and len(png) <= 60_000


async def test_it_keeps_a_signed_in_session_in_the_profile(tmp_path, site):
    profile = tmp_path / "profile"
    cfg = browser_config(tmp_path, site, profile_dir=str(profile))
    async with running(tmp_path, cfg) as (agent, hub, _):
        first = await run_steps(agent, hub, 1, [{"action": "open", "url": f"{site.url}/login?user=ada"}])
        second = await run_steps(
            agent,
            hub,
            2,
            [{"action": "open", "url": f"{site.url}/whoami"}, {"action": "read", "selector": "#who"}],
        )
    assert first["outcome"] == "succeeded", first["error"]
    assert second["steps"][1]["text"] == "user=ada"
    assert profile.is_dir()


async def test_it_saves_downloads_only_into_the_downloads_folder(tmp_path, site):
    downloads = tmp_path / "downloads"
    (downloads).mkdir()
    (downloads / "report.txt").write_text("mine\n")
    cfg = browser_config(tmp_path, site, downloads_dir=str(downloads))
    steps = [{"action": "open", "url": f"{site.url}/form"}, {"action": "click", "selector": "#file"}]
    async with running(tmp_path, cfg) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
        text = log_text(hub, 1)
    assert done["outcome"] == "succeeded", done["error"]
    assert sorted(p.name for p in downloads.iterdir()) == ["report (2).txt", "report.txt"]
    assert (downloads / "report (2).txt").read_text() == "the report\n"
    assert (downloads / "report.txt").read_text() == "mine\n"  # never overwritten
    assert f"download saved: {downloads / 'report (2).txt'}\n" in text
