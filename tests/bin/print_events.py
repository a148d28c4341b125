#!/usr/bin/env python3
"""A fake agent CLI printing recorded output: `print_events.py LINES [argv...]`.

It reads its stdin, writes {"argv", "stdin"} as one JSON line to stderr, then copies the file
LINES to stdout byte for byte (an agent's JSON events, or anything else), then "done" to stderr.
"""

import json
import sys

lines, argv = sys.argv[1], sys.argv[2:]
stdin = sys.stdin.read()
print(json.dumps({"argv": argv, "stdin": stdin}), file=sys.stderr, flush=True)
with open(lines, "rb") as recorded:
    sys.stdout.buffer.write(recorded.read())
sys.stdout.flush()
print("done", file=sys.stderr, flush=True)
