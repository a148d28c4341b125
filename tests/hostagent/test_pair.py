import io
import re
import subprocess
import sys

import pytest

from hostagent import config, pairing
from hostagent.__main__ import main
from tests.hostagent.conftest import ROOT
from tests.kits.fakehub import DEVICE_CODE, TOKEN, FakePairingApi

HOSTILE_TEAM = "\x1b[2JEvil\x9b31m \u202eTeam\u2066\u200f\u061c\x07"


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and DEVICE_CODE not in text


@pytest.fixture
def fake():
    with FakePairingApi() as api:
        yield api


def run_pair(monkeypatch, capsys, fake, config_path, answer: str | None, *extra: str):
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer or ""))
    code = main(["pair", "--hub", fake.url, "--name", "MacBook Pro", "--config", str(config_path), *extra])
    out, err = capsys.readouterr()
    assert_no_secrets(out, err)
    return code, out, err


def test_it_pairs_with_yes_through_the_real_cli(fake, config_path, agent_cmd):
    fake.auto_approve = False
    fake.grant["team"] = HOSTILE_TEAM
    proc = subprocess.Popen(
        agent_cmd("pair", "--hub", fake.url, "--name", "box", "--yes", "--config", str(config_path)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = proc.stdout.readline().decode()
        match = re.match(r"^Code: (\S+)$", first.rstrip("\n"))
        assert match, first
        fake.approve(match.group(1))
        proc.wait(timeout=8)
        # Not communicate(): it would skip what readline() already buffered.
        rest, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    out = first.encode() + rest
    assert proc.returncode == 0, err
    assert b"\x1b" not in out and b"\xc2\x9b" not in out and "\u202e".encode() not in out
    text = out.decode()
    assert f"Open: {fake.url}/pair/?code=WDJB-MJHT\n" in text
    assert 'Approved by alice@example.com for team "[2JEvil31m Team" from 203.0.113.7.\n' in text
    assert text.endswith(
        f'Paired as host 12. Start the agent with: python -m hostagent run --config "{config_path}"\n'
    )
    assert_no_secrets(text, err.decode())
    assert config.load(config_path) == config.Config(hub=fake.url, host_id=12, name="box", token=TOKEN)
    assert fake.paths()[:2] == ["/api/pairing/", "/api/pairing/token/"]
    assert fake.paths()[-1] == "/api/pairing/confirm/"
    start_body = fake.requests[0][1]
    assert start_body["name"] == "box" and start_body["agent_version"] == "0.1.0"
    assert re.fullmatch(r"\w+-\w+", start_body["platform"])


def test_it_asks_and_accepts_y(monkeypatch, capsys, fake, config_path):
    code, out, _ = run_pair(monkeypatch, capsys, fake, config_path, "Y\n")
    assert code == 0
    assert "Trust this hub and account? [y/N] " in out
    assert fake.paths()[-1] == "/api/pairing/confirm/"
    assert config.load(config_path).token == TOKEN


@pytest.mark.parametrize("answer", ["n\n", "\n", "yep\n", None])
def test_it_rejects_unless_told_yes(monkeypatch, capsys, fake, config_path, answer):
    code, out, _ = run_pair(monkeypatch, capsys, fake, config_path, answer)
    assert code == 1
    assert "Trust this hub and account? [y/N] " in out
    assert "the hub was told" in out and "nothing was saved" in out
    assert fake.paths()[-1] == "/api/pairing/reject/"
    assert "/api/pairing/confirm/" not in fake.paths()
    assert not config_path.exists()


def test_it_strips_control_characters_from_hub_strings(monkeypatch, capsys, fake, config_path):
    fake.grant.update(
        team=HOSTILE_TEAM, approved_by="\x1b]0;pwned\x07bob@example.com", approved_from="\x9b1.2.3.4"
    )
    code, out, _ = run_pair(monkeypatch, capsys, fake, config_path, None, "--yes")
    assert code == 0
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u2066\u200f\u061c]", out)
    assert 'Approved by ]0;pwnedbob@example.com for team "[2JEvil31m Team" from 1.2.3.4.' in out


def test_it_uses_the_interval_slow_down_carries(monkeypatch, capsys, fake, config_path):
    fake.poll_answers = [(400, {"error": "slow_down", "error_description": "", "interval": 0.3})]
    code, _, _ = run_pair(monkeypatch, capsys, fake, config_path, None, "--yes")
    assert code == 0
    first, second = fake.poll_times()
    assert second - first >= 0.3


def test_it_adds_5_s_on_slow_down_without_an_interval(monkeypatch, capsys, fake, config_path):
    slept: list[float] = []
    monkeypatch.setattr(pairing, "sleep", slept.append)
    fake.poll_answers = [
        (400, {"error": "authorization_pending", "error_description": ""}),
        (400, {"error": "slow_down", "error_description": ""}),
        (400, {"error": "authorization_pending", "error_description": ""}),
    ]
    code, _, _ = run_pair(monkeypatch, capsys, fake, config_path, None, "--yes")
    assert code == 0
    assert slept == [0.05, 0.05, 5.05, 5.05]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("access_denied", "denied"),
        ("expired_token", "expired"),
        ("invalid_grant", "does not know"),
    ],
)
def test_it_stops_on_final_poll_errors(monkeypatch, capsys, fake, config_path, error, message):
    fake.poll_answers = [(400, {"error": error, "error_description": "x"})]
    code, _, err = run_pair(monkeypatch, capsys, fake, config_path, None, "--yes")
    assert code == 1
    assert message in err
    assert fake.paths() == ["/api/pairing/", "/api/pairing/token/"]
    assert not config_path.exists()


def test_it_stops_when_the_code_expires(monkeypatch, capsys, config_path):
    with FakePairingApi(interval=0.05, expires_in=0.2) as fake:
        fake.auto_approve = False
        code, _, err = run_pair(monkeypatch, capsys, fake, config_path, None, "--yes")
    assert code == 1
    assert "expired" in err
    assert not config_path.exists()


def test_it_saves_nothing_when_confirm_is_too_late(monkeypatch, capsys, fake, config_path):
    fake.answers["/api/pairing/confirm/"] = (410, {"error": "expired_token", "error_description": "late"})
    code, _, err = run_pair(monkeypatch, capsys, fake, config_path, None, "--yes")
    assert code == 1
    assert "the time to confirm has passed" in err
    assert not config_path.exists()


def test_it_refuses_plain_http_to_a_remote_hub(monkeypatch, capsys, config_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["pair", "--hub", "http://example.com", "--name", "box", "--config", str(config_path)]) == 2
    assert "must use https://" in capsys.readouterr().err
