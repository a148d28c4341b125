"""The Pair card on a phone (issue 19): the one line that installs this hub's agent, with the hub's
real address, copied with one tap and fetching the real wheel; then the pair command. At 390x844
the long lines wrap and nothing scrolls sideways."""

import pytest
from playwright.sync_api import expect

from tests.kits.agent_wheel import WHEEL_NAME, build_wheel
from tests.kits.common import make_owner
from tests.kits.phone import PHONE, shot, sign_in
from tests.kits.processes import Hub, hub_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(transactional_db, artifacts, tmp_path):
    hub = Hub(hub_env(AGENT_WHEEL_DIR=str(build_wheel(tmp_path).parent)), artifacts)
    yield hub
    hub.stop()


def test_the_pair_card_gives_the_install_line_and_the_pair_line(browser, hub, artifacts, tmp_path):
    user, _ = make_owner("mia@example.com", "Mia's")
    context = browser.new_context(**PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in(page, hub.url, user)

    card = page.locator("#pair-a-host")
    install = f"pipx install {hub.url}/agent/{WHEEL_NAME}"
    expect(card.locator("#install-command")).to_have_text(install)
    expect(card.locator("#uv-install-command")).to_have_text(f"uv tool install {hub.url}/agent/{WHEEL_NAME}")
    expect(card.locator("#pair-command")).to_have_text(
        f'codexhub-agent pair --hub {hub.url} --name "My laptop"'
    )
    expect(card.locator("#agent-wheel-missing")).to_have_count(0)
    shot(page, artifacts, "pair-card")
    card.screenshot(path=str(artifacts / "pair-card-alone.png"))

    card.locator('[data-copy="#install-command"]').click()
    expect(card.locator('[data-copy="#install-command"]')).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == install
    card.locator('[data-copy="#pair-command"]').click()
    assert page.evaluate("navigator.clipboard.readText()").startswith("codexhub-agent pair --hub ")

    # What the copied line fetches is the wheel the hub built.
    response = page.request.get(install.removeprefix("pipx install "))
    assert response.status == 200
    assert response.body() == (tmp_path / WHEEL_NAME).read_bytes()
    context.close()


def test_a_hub_that_has_not_built_the_agent_says_so_on_the_card(
    browser, transactional_db, artifacts, tmp_path
):
    hub = Hub(hub_env(AGENT_WHEEL_DIR=str(tmp_path / "not-built")), artifacts)
    try:
        user, _ = make_owner("mia@example.com", "Mia's")
        context = browser.new_context(**PHONE)
        page = context.new_page()
        sign_in(page, hub.url, user)
        warning = page.locator("#pair-a-host #agent-wheel-missing")
        expect(warning).to_contain_text("This hub has not built the agent yet")
        expect(warning).to_contain_text("make agent")
        shot(page, artifacts, "pair-card-not-built")
        page.locator("#pair-a-host").screenshot(path=str(artifacts / "pair-card-not-built-alone.png"))
        response = page.request.get(f"{hub.url}/agent/{WHEEL_NAME}")
        assert response.status == 404
        assert "run `make agent` where the hub runs" in response.text()
        context.close()
    finally:
        hub.stop()
