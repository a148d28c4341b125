"""static/js/refresh.js in Chromium: codexhubSingleFlight runs one refresh at a
time and coalesces the requests made meanwhile into exactly one more run.
Each run waits on a promise the test opens, so no timing is involved."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

HELPER = Path(__file__).resolve().parents[2] / "static" / "js" / "refresh.js"

# Runs that wait for the test: `release()` lets the oldest run still waiting end
# (or fail, with release(true)); `seen` counts runs started and the most at once.
GATED = """() => {
  const gates = [];
  const seen = { runs: 0, running: 0, most: 0 };
  window.seen = seen;
  window.release = (fail) => gates.shift()(fail);
  window.request = window.codexhubSingleFlight(async () => {
    seen.runs += 1;
    seen.running += 1;
    seen.most = Math.max(seen.most, seen.running);
    const fail = await new Promise((done) => gates.push(done));
    seen.running -= 1;
    if (fail) throw new Error("offline");
  }, MIN_GAP);
}"""


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.clock.install(time=0)
    page.goto("data:text/html,<!doctype html><title>refresh</title>")
    page.clock.pause_at(1000)  # from here timers run only when a test says so
    yield page
    context.close()


def gated(page, min_gap=None):
    page.add_script_tag(path=str(HELPER))
    option = f"{{ minGap: {min_gap} }}" if min_gap is not None else "undefined"
    page.evaluate(GATED.replace("MIN_GAP", option))


def test_it_coalesces_requests_during_a_run_into_one_follow_up(page):
    gated(page)
    outcome = page.evaluate(
        """async () => {
      const first = request();
      const during = [request(), request(), request(), request()];
      const sameTicket = during.every((p) => p === during[0]) && during[0] !== first;
      const runsBefore = seen.runs;
      release();
      await first;
      const runsAfterFirst = seen.runs;
      release();
      await Promise.all(during);
      await Promise.resolve();
      const { runs, most, running } = seen;
      return { sameTicket, runsBefore, runsAfterFirst, runs, most, running };
    }"""
    )
    assert outcome == {
        "sameTicket": True,
        "runsBefore": 1,
        "runsAfterFirst": 2,
        "runs": 2,
        "most": 1,
        "running": 0,
    }


def test_it_runs_again_after_a_failed_run_and_when_idle(page):
    gated(page)
    outcome = page.evaluate(
        """async () => {
      const failing = request();
      const after = request();
      release(true);
      await failing;  // resolves although the run failed
      release();
      await after;
      const idle = request();  // idle again: starts at once
      const runsWhenIdle = seen.runs;
      release();
      await idle;
      return { runsWhenIdle, runs: seen.runs, most: seen.most };
    }"""
    )
    assert outcome == {"runsWhenIdle": 3, "runs": 3, "most": 1}


def test_it_spaces_runs_by_min_gap_and_requests_meanwhile_join_the_waiting_run(page):
    gated(page, min_gap=250)
    page.evaluate("() => { window.first = request(); release(); }")
    page.evaluate("() => first")
    runs = page.evaluate("() => { window.later = [request(), request()]; return seen.runs; }")
    assert runs == 1  # the follow-up waits out the gap
    page.clock.run_for(249)
    assert page.evaluate("() => seen.runs") == 1
    page.clock.run_for(1)
    assert page.evaluate("() => later[0] === later[1] && seen.runs") == 2
    page.evaluate("() => { release(); return Promise.all(later); }")
    assert page.evaluate("() => [seen.runs, seen.most]") == [2, 1]
