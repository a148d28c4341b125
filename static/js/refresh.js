// One refresh at a time, none lost. `codexhubSingleFlight(run)` gives a
// `request()` that starts `run` when idle; every request made while a run is
// under way is coalesced into exactly one more run after it (so what changed
// meanwhile is fetched), and two runs never overlap. `minGap` (ms) spaces the
// starts of runs apart; requests made during that wait join the waiting run.
// `request()` resolves once a run that started after it has ended.
"use strict";

window.codexhubSingleFlight = function (run, { minGap = 0 } = {}) {
  let loop = null;  // the runs under way, or null when idle
  let waiting = null;  // { promise, resolve }: the requests no started run serves yet
  let lastStart = -Infinity;

  async function drain() {
    while (waiting) {
      const gap = lastStart + minGap - Date.now();
      if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
      const served = waiting;
      waiting = null;  // from here on, a request needs a run that starts after this one
      lastStart = Date.now();
      try {
        await run();
      } catch (error) {
        // Offline for a moment: the next event or reconnect requests again.
      }
      served.resolve();
    }
    loop = null;
  }

  return function request() {
    if (!waiting) {
      let resolve;
      const promise = new Promise((done) => { resolve = done; });
      waiting = { promise, resolve };
    }
    const ticket = waiting;  // drain() may take it before this returns
    if (!loop) loop = drain();
    return ticket.promise;
  };
};
