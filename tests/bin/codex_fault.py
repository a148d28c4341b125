"""Runs the real `codex app-server` (argv[1:]) between the host agent and it, passing every
line through except where $CODEX_FAULT injects one fault, as `<fault>:<method>`: at the first
message from codex whose method is <method> (or the answer to the host's request <method>):

- `garbage`: a line that is not JSON instead of it;
- `no-thread-id`: the message without result.thread.id (for thread/start);
- `no-item-id`: the message without params.item.id (for item/started);
- `request`: first a request of a method the host does not handle (`item/tool/call`); the
  host's answer to it is written to $CODEX_FAULT_LOG;
- `exit`: "codex crashed" on stderr, and exit code 3 (codex killed with it);
- `huge`: 17 MiB without a newline, instead of it.
"""

import json
import os
import subprocess
import sys
import threading

FAULT, _, METHOD = os.environ.get("CODEX_FAULT", "").partition(":")
LOG = os.environ.get("CODEX_FAULT_LOG", "")
INJECTED_ID = "fault-1"

child = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
requests: dict[object, str] = {}  # the host's request ids -> methods


def to_codex() -> None:
    assert child.stdin is not None
    for line in sys.stdin.buffer:
        message = json.loads(line)
        if message.get("id") == INJECTED_ID and LOG:
            with open(LOG, "a") as log:
                log.write(json.dumps(message) + "\n")
            continue
        if "method" in message and "id" in message:
            requests[message["id"]] = message["method"]
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()


threading.Thread(target=to_codex, daemon=True).start()
out = sys.stdout.buffer
fired = False
assert child.stdout is not None
for line in child.stdout:
    message = json.loads(line)
    method = message.get("method") or requests.get(message.get("id"))
    if not fired and method == METHOD:
        fired = True
        if FAULT == "garbage":
            line = b"this is not json\n"
        elif FAULT == "no-thread-id":
            del message["result"]["thread"]["id"]
            line = json.dumps(message).encode() + b"\n"
        elif FAULT == "no-item-id":
            del message["params"]["item"]["id"]
            line = json.dumps(message).encode() + b"\n"
        elif FAULT == "request":
            request = {"id": INJECTED_ID, "method": "item/tool/call", "params": {"tool": "x"}}
            out.write(json.dumps(request).encode() + b"\n")
        elif FAULT == "exit":
            sys.stderr.write("codex crashed\n")
            sys.stderr.flush()
            child.kill()
            os._exit(3)
        elif FAULT == "huge":
            out.write(b"x" * (17 * 1024 * 1024))
            out.flush()
            child.wait()
            sys.exit(0)
    out.write(line)
    out.flush()
sys.exit(child.wait())
