"""The `browser` executor without a browser: its config, the allow-list, the step checks, the
artifact upload, the filtering proxy, and how the agent offers it."""

import asyncio

import pytest

from hostagent import api, config
from hostagent.__main__ import main
from hostagent.config import ConfigError, ExecutorConfig
from hostagent.tasks.browser import StepFailed, _Session, browser_env, reserve_file
from hostagent.tasks.browser_gate import SiteGate
from hostagent.tasks.browser_steps import step_label, steps_error
from hostagent.tasks.executors import offered
from hostagent.tasks.ledger import RECEIVED, Ledger
from hostagent.tasks.sites import SiteError, SiteList, SitePattern
from tests.kits.agent_tasks import NO_ENV, Site, events, finished, load_config, running_agent
from tests.kits.fakehub import TOKEN, FakeArtifactApi

FULL = """
[executors.browser]
type = "browser"
label = "Chromium"
executable_path = "/usr/bin/chromium"
headless = false
profile_dir = "/home/me/.config/codexhub-browser"
allowed_sites = ["127.0.0.1:*", "*.example.com", "example.com"]
downloads_dir = "/home/me/Downloads/codexhub"
step_timeout = 10
screenshot_max_bytes = 1048576
timeout = 300

[executors.chrome]
type = "browser"
channel = "chrome"
allowed_sites = ["example.org"]
"""


def test_it_reads_a_browser_executor(tmp_path):
    cfg = load_config(tmp_path, FULL)
    assert cfg.executors["browser"] == ExecutorConfig(
        type="browser",
        label="Chromium",
        executable_path="/usr/bin/chromium",
        headless=False,
        profile_dir="/home/me/.config/codexhub-browser",
        allowed_sites=["127.0.0.1:*", "*.example.com", "example.com"],
        downloads_dir="/home/me/Downloads/codexhub",
        step_timeout=10,
        screenshot_max_bytes=1048576,
        timeout=300,
    )
    executors = offered(cfg, which=lambda _: None)
    browser, chrome = executors["browser"], executors["chrome"]
    assert browser.describe() == {
        "name": "browser",
        "label": "Chromium",
        "kind": "browser",
        "needs_file": False,
        **NO_ENV,
    }
    assert (browser.headless, browser.step_timeout, browser.screenshot_max_bytes, browser.timeout) == (
        False,
        10.0,
        1048576,
        300.0,
    )
    assert browser.allowed_sites == ("127.0.0.1:*", "*.example.com", "example.com")
    # The defaults: headless, 15 s a step, 2 MiB screenshots, [tasks] timeout, label = name.
    assert (chrome.label, chrome.channel, chrome.executable_path, chrome.headless) == (
        "chrome",
        "chrome",
        "",
        True,
    )
    assert (chrome.step_timeout, chrome.screenshot_max_bytes, chrome.timeout) == (
        15.0,
        2 * 1024 * 1024,
        1800.0,
    )
    assert (chrome.profile_dir, chrome.downloads_dir) == ("", "")


def test_it_keeps_a_browser_executor_when_a_command_saves_the_file(tmp_path):
    path = tmp_path / "cfg" / "agent.toml"
    written = load_config(tmp_path, FULL)
    (tmp_path / "work").mkdir()
    assert main(["project", "add", str(tmp_path / "work"), "--config", str(path)]) == 0
    assert config.load(path).executors == written.executors


BASE = (
    '[executors.b]\ntype = "browser"\nexecutable_path = "/usr/bin/chromium"\nallowed_sites = ["a.example"]\n'
)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[executors.b]\ntype = "firefox"', 'executors.b.type must be "command" or "openai" or "browser"'),
        (
            '[executors.b]\ntype = "browser"\nallowed_sites = ["a.example"]',
            "executors.b: set one of executable_path",
        ),
        (BASE + 'channel = "chrome"', "executors.b: set one of executable_path"),
        (
            BASE.replace("/usr/bin/chromium", "chromium"),
            "executors.b.executable_path must be an absolute path",
        ),
        (
            BASE.replace('executable_path = "/usr/bin/chromium"', 'channel = "firefox"'),
            "executors.b.channel must be",
        ),
        (BASE + "headless = 1", "executors.b.headless must be true or false"),
        (BASE + 'profile_dir = "profile"', "executors.b.profile_dir must be an absolute path"),
        (BASE + "downloads_dir = 3", "executors.b.downloads_dir must be an absolute path"),
        (BASE.replace('allowed_sites = ["a.example"]', ""), "executors.b.allowed_sites is required"),
        (BASE.replace('["a.example"]', "[]"), "executors.b.allowed_sites must hold 1-100 sites"),
        (BASE.replace('["a.example"]', '"a.example"'), "executors.b.allowed_sites must be a list of strings"),
        (BASE.replace('["a.example"]', '["*"]'), "executors.b.allowed_sites: '*': * is only allowed"),
        (BASE.replace('["a.example"]', '["https://a.example/"]'), "is a host or host:port, not a URL"),
        (BASE.replace('["a.example"]', '["a.example:0"]'), "a port is 1-65535 or *"),
        (BASE + "step_timeout = 0", "executors.b.step_timeout must be a number of seconds between 1 and 120"),
        (
            BASE + "step_timeout = 121",
            "executors.b.step_timeout must be a number of seconds between 1 and 120",
        ),
        (
            BASE + "screenshot_max_bytes = 10",
            "executors.b.screenshot_max_bytes must be an integer between 1024",
        ),
        (BASE + "screenshot_max_bytes = 6000000", "executors.b.screenshot_max_bytes must be an integer"),
        (BASE + "timeout = 0", "executors.b.timeout must be a number of seconds"),
        (BASE + 'command = ["/x"]', "executors.b.command is not a key of a browser executor"),
        (BASE + 'label = ""', "executors.b.label must be 1-64 characters"),
    ],
)
def test_it_refuses_bad_browser_settings_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, text)
    assert message in str(info.value)


def test_it_lists_the_browser_on_the_command_line(tmp_path, capsys):
    load_config(tmp_path, FULL + "[tasks]\nbuiltins = false\n")
    assert main(["executors", "--config", str(tmp_path / "cfg" / "agent.toml")]) == 0
    assert capsys.readouterr().out == (
        "browser  Chromium  browser  (sites: 127.0.0.1:*, *.example.com, example.com)\n"
        "chrome  chrome  browser  (sites: example.org)\n"
    )


async def test_it_offers_the_browser_in_hello(tmp_path):
    cfg = load_config(tmp_path, BASE + 'label = "Chromium"\n[tasks]\nbuiltins = false\n')
    async with running_agent(tmp_path, cfg, {"docs": tmp_path}) as (hub, _):
        pass  # welcomed: it said hello
    hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
    assert hello["capabilities"] == ["agent", "browser"]
    assert hello["executors"] == [
        {"name": "b", "label": "Chromium", "kind": "browser", "needs_file": False, **NO_ENV}
    ]


async def test_it_reports_a_browser_that_cannot_start(tmp_path):
    missing = tmp_path / "no-chromium"
    cfg = load_config(tmp_path, BASE.replace("/usr/bin/chromium", str(missing)))
    site = Site().start()
    try:
        cfg.executors["b"].allowed_sites = [site.netloc]
        async with running_agent(tmp_path, cfg, {"docs": tmp_path}) as (hub, agent):
            await agent.assign(1, "docs", "b", "Look", steps=[{"action": "open", "url": f"{site.url}/form"}])
            done = await finished(hub, 1, timeout=20)
    finally:
        site.stop()
    assert done["outcome"] == "failed"
    assert done["error"].startswith(f"cannot start the browser ({missing}): ")
    assert "doesn't exist" in done["error"] or "not exist" in done["error"]
    assert done["steps"] == [] and done["changes"] == []
    assert [t for t, _ in events(hub, 1)][:2] == ["task.received", "task.started"]
    assert site.seen() == []


# The allow-list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, error",
    [
        ("http://127.0.0.1:5000/x", None),
        ("https://a.b.example.com/", None),
        ("http://EXAMPLE.com./", None),
        ("https://example.com:443/", None),
        ("http://example.com:8080/", "site not allowed: example.com:8080"),
        ("https://evil.example/", "site not allowed: evil.example"),
        ("http://notexample.com/", "site not allowed: notexample.com"),
        ("http://example.com.evil.example/", "site not allowed: example.com.evil.example"),
        ("http://127.0.0.2/", "site not allowed: 127.0.0.2"),
        ("http://[::1]:8000/", "site not allowed: [::1]:8000"),
        ("file:///etc/passwd", "site not allowed: file: URLs"),
        ("javascript:alert(1)", "site not allowed: javascript: URLs"),
        ("data:text/html,<p>hi", "site not allowed: data: URLs"),
        ("example.com/x", "not a full URL (it needs http:// or https://)"),
        ("http://example.com@evil.example/", "URLs with a user name, password or backslash are not allowed"),
        (
            "http://evil.example\\@example.com/",
            "URLs with a user name, password or backslash are not allowed",
        ),
        ("http://example.com:99999/", "not a valid URL (bad port)"),
    ],
)
def test_it_judges_urls_by_host_and_port(url, error):
    sites = SiteList(["127.0.0.1:*", "*.example.com", "example.com"])
    assert sites.url_error(url) == error


def test_it_reads_site_patterns():
    assert SitePattern.parse("Example.COM") == SitePattern("example.com", False, frozenset({80, 443}))
    assert SitePattern.parse("*.example.com:8443") == SitePattern("example.com", True, frozenset({8443}))
    assert SitePattern.parse("[::1]:*") == SitePattern("::1", False, None)
    assert SitePattern.parse("bücher.example") == SitePattern(
        "xn--bcher-kva.example", False, frozenset({80, 443})
    )
    assert SiteList(["bücher.example"]).url_error("https://xn--bcher-kva.example/") is None
    for bad in ("*", "*:*", "::1", "a b", "a/b", "*.10.0.0.1", "a..b", "x:", "[::1", "*.*.example.com"):
        with pytest.raises(SiteError):
            SitePattern.parse(bad)


# Steps ------------------------------------------------------------------------------------------


def test_it_names_steps_from_one():
    assert step_label(2, {"action": "click", "selector": "#buy"}) == 'step 3 (click "#buy")'
    assert step_label(0, {"action": "open", "url": "https://a"}) == "step 1 (open)"
    assert step_label(1, {"action": "press", "key": "Enter", "selector": "#q"}) == 'step 2 (press "Enter")'
    assert step_label(4, {"action": "wait", "text": "Thank you"}) == 'step 5 (wait "Thank you")'
    assert step_label(5, {"action": "pdf"}) == "step 6 (pdf)"
    assert step_label(0, {"action": "click", "selector": "x" * 200}).endswith('x…")')


def test_it_accepts_the_protocol_example():
    steps = [
        {"action": "open", "url": "https://shop.example.com/order"},
        {"action": "fill", "selector": "#qty", "value": "3"},
        {"action": "click", "selector": "button[type=submit]"},
        {"action": "wait", "text": "Thank you", "timeout": 30},
        {"action": "read", "selector": "#total"},
        {"action": "read", "selector": "a", "attribute": "href"},
        {"action": "press", "key": "Enter"},
        {"action": "select", "selector": "#size", "value": "L"},
        {"action": "screenshot", "full_page": True},
        {"action": "screenshot", "selector": "#cart", "timeout": 1.5},
        {"action": "pdf"},
    ]
    assert steps_error(steps, SiteList(["*.example.com"])) is None
    assert (
        steps_error(steps, SiteList(["example.com"])) == "step 1 (open): site not allowed: shop.example.com"
    )


# Artifact uploads -------------------------------------------------------------------------------


def test_it_uploads_an_artifact_with_the_host_token():
    with FakeArtifactApi() as hub:
        api.put_artifact(hub.url, TOKEN, 42, "step-3.png", b"\x89PNG\r\n\x1a\n...", "image/png")
    assert hub.requests == [
        ("/api/host/tasks/42/artifacts/step-3.png", "image/png", f"Bearer {TOKEN}", b"\x89PNG\r\n\x1a\n...")
    ]


def test_it_tries_an_upload_again_after_a_server_error_only():
    pauses = []
    with FakeArtifactApi() as hub:
        hub.statuses = [503, 500]
        api.put_artifact(hub.url, TOKEN, 1, "step-0.pdf", b"%PDF-1.4", "application/pdf", sleep=pauses.append)
        assert len(hub.requests) == 3 and pauses == [0.5, 1.0]
        hub.statuses = [413]
        with pytest.raises(api.ApiError) as info:
            api.put_artifact(
                hub.url, TOKEN, 1, "step-0.pdf", b"%PDF-1.4", "application/pdf", sleep=pauses.append
            )
        assert info.value.status == 413 and len(hub.requests) == 4
        with pytest.raises(api.ApiError) as info:
            api.put_artifact(
                hub.url, "wrong", 1, "step-0.pdf", b"%PDF", "application/pdf", sleep=pauses.append
            )
        assert info.value.status == 401


def test_it_gives_up_on_an_unreachable_hub_and_refuses_plain_http():
    pauses = []
    with pytest.raises(api.HubUnreachable):
        api.put_artifact("http://127.0.0.1:1", TOKEN, 1, "step-0.png", b"x", "image/png", sleep=pauses.append)
    assert pauses == [0.5, 1.0]
    with pytest.raises(api.InsecureHubUrl):
        api.put_artifact(
            "http://hub.example.com", TOKEN, 1, "step-0.png", b"x", "image/png", sleep=pauses.append
        )


# The filtering proxy ---------------------------------------------------------------------------


async def _ask(proxy_url: str, request: bytes) -> bytes:
    host, port = proxy_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    try:
        if request.startswith(b"CONNECT"):  # the tunnel stays open: its answer's head only
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return await asyncio.wait_for(reader.read(), 5)  # up to the close
    finally:
        writer.close()


async def test_the_proxy_forwards_only_to_allowed_sites():
    site, elsewhere = Site().start(), Site().start()
    gate = SiteGate(SiteList([site.netloc]))
    try:
        proxy = await gate.start()
        ok = await _ask(proxy, f"GET {site.url}/form HTTP/1.1\r\nHost: {site.netloc}\r\n\r\n".encode())
        refused = await _ask(
            proxy, f"GET {elsewhere.url}/x HTTP/1.1\r\nHost: {elsewhere.netloc}\r\n\r\n".encode()
        )
        tunnel = await _ask(proxy, f"CONNECT {elsewhere.netloc} HTTP/1.1\r\n\r\n".encode())
        metadata = await _ask(proxy, b"CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n")
        allowed = await _ask(proxy, f"CONNECT {site.netloc} HTTP/1.1\r\n\r\n".encode())
    finally:
        await gate.close()
        site.stop()
        elsewhere.stop()
    assert ok.startswith(b"HTTP/1.0 200") and b'id="name"' in ok
    assert refused.startswith(b"HTTP/1.1 403") and b"blocked by the codexhub allow-list" in refused
    assert tunnel.startswith(b"HTTP/1.1 403") and metadata.startswith(b"HTTP/1.1 403")
    assert allowed.startswith(b"HTTP/1.1 200 Connection Established")
    assert gate.blocked == [f"{elsewhere.url}/x", elsewhere.netloc, "169.254.169.254:80"]
    assert site.seen() == ["/form"] and elsewhere.seen() == []


# Odds and ends ------------------------------------------------------------------------------------


def test_the_browser_gets_no_codexhub_variable():
    env = browser_env(
        {"PATH": "/bin", "HOME": "/h", "DISPLAY": ":0", "CODEXHUB_AGENT_CONFIG": "/x", "SECRET": "s"}
    )
    assert env == {"PATH": "/bin", "HOME": "/h", "DISPLAY": ":0"}


def test_it_names_downloads_safely_and_never_overwrites(tmp_path):
    first = reserve_file(str(tmp_path), "../../etc/report.txt")
    second = reserve_file(str(tmp_path), "report.txt")
    odd = reserve_file(str(tmp_path), 'a\x1b[2J<b>:"c".pdf')
    empty = reserve_file(str(tmp_path), "..")
    assert [p.removeprefix(str(tmp_path) + "/") for p in (first, second, odd, empty)] == [
        "report.txt",
        "report (2).txt",
        "a_[2J_b___c_.pdf",
        "download",
    ]


async def test_it_keeps_the_steps_in_the_ledger_for_a_restart(tmp_path):
    # Received (and acked) before the agent stopped, never started: it runs after the next welcome.
    steps = [{"action": "open", "url": "https://evil.example/"}]
    with Ledger(tmp_path / "tasks.sqlite3", owner="test") as ledger:
        assignment = {"project": "docs", "executor": "b", "prompt": "Look", "target": "", "steps": steps}
        ledger.add(7, RECEIVED, assignment)
        ledger.mark_acked(7)
    cfg = load_config(tmp_path, BASE)
    async with running_agent(tmp_path, cfg, {"docs": tmp_path}) as (hub, agent):
        done = await finished(hub, 7)
    assert done["error"] == "step 1 (open): site not allowed: evil.example"  # not "needs a list of steps"


async def test_a_pdf_needs_a_headless_browser(tmp_path):
    # Checked before the page is touched: no display (and no headed browser) is needed to test it.
    cfg = load_config(tmp_path, BASE + "headless = false\n")
    executor = offered(cfg, which=lambda _: None)["b"]
    session = _Session(executor, task_log=None, upload=None, results=[])
    with pytest.raises(StepFailed, match=r"a PDF needs a headless browser \(headless = true"):
        await session._do_pdf(0, {"action": "pdf"}, 5.0, [])
