#!/usr/bin/env python3
"""Fake service managers for the service tests: `fake_service_manager.py NAME ARGS...` answers as
`systemctl --user`, `launchctl` or `loginctl` would, for the commands hostagent/service.py runs.

Every call is appended as {"argv": [NAME, *ARGS]} to $FAKE_SERVICE_STATE/calls.jsonl; what the
manager holds (loaded, enabled, active; launchd's loaded jobs; linger) lives in
$FAKE_SERVICE_STATE/state.json, which a test may also write:
  "fail": {"systemctl": "daemon-reload"|"enable"|...|"all", "launchctl": "bootstrap"|...}
  "show": {"ActiveState": "failed", "ExecMainStatus": "3", ...}   systemctl show overrides
  "print": {"state": "not running", "last exit code": "0", ...}     launchctl print overrides
  "linger": "yes"|"no"
Anything else: a message on stderr and exit 1, as the real ones do for a wrong command.
"""

import json
import os
import plistlib
import sys
from pathlib import Path

UNIT = "codexhub-agent.service"
NO_BUS = "Failed to connect to bus: No medium found\n"


def state_dir() -> Path:
    return Path(os.environ["FAKE_SERVICE_STATE"])


def load() -> dict:
    path = state_dir() / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(state: dict) -> None:
    (state_dir() / "state.json").write_text(json.dumps(state))


def unit_file() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.environ["HOME"], ".config")
    return Path(config_home) / "systemd" / "user" / UNIT


def fails(state: dict, name: str, verb: str) -> bool:
    wanted = state.get("fail", {}).get(name)
    return wanted in ("all", verb)


def systemctl(args: list[str], state: dict) -> int:
    if args[:1] != ["--user"]:
        sys.exit("fake systemctl: only --user is faked")
    verb, rest = (args[1], args[2:]) if len(args) > 1 else ("", [])
    if fails(state, "systemctl", verb):
        sys.stderr.write(NO_BUS)
        return 1
    units = [a for a in rest if not a.startswith("--")]
    if verb == "daemon-reload" and not units:
        state["loaded"] = unit_file().is_file()
        return 0
    if units != [UNIT]:
        sys.exit(f"fake systemctl: unexpected {args}")
    if verb == "show":
        props = {
            "LoadState": "loaded" if state.get("loaded") else "not-found",
            "ActiveState": "active" if state.get("active") else "inactive",
            "SubState": "running" if state.get("active") else "dead",
            "UnitFileState": "enabled" if state.get("enabled") else "disabled",
            "ExecMainStatus": "0",
            "ExecMainPID": "4242" if state.get("active") else "0",
        }
        props.update(state.get("show", {}))
        print("\n".join(f"{k}={v}" for k, v in props.items()))
        return 0
    if verb in ("enable", "restart") and not state.get("loaded"):
        sys.stderr.write(f"Failed to {verb} unit: Unit file {UNIT} does not exist.\n")
        return 1
    if verb == "enable":
        state["enabled"] = True
        state["active"] = state.get("active") or "--now" in rest
    elif verb == "disable":
        state["enabled"] = False
        state["active"] = state.get("active") and "--now" not in rest
    elif verb == "restart":
        state["active"] = True
    else:
        sys.exit(f"fake systemctl: unexpected {args}")
    return 0


def launchctl(args: list[str], state: dict) -> int:
    verb = args[0] if args else ""
    loaded = state.setdefault("launchd", {})
    if fails(state, "launchctl", verb):
        sys.stderr.write("Bootstrap failed: 125: Domain does not support specified action\n")
        return 125
    uid = os.getuid()
    if verb == "enable" and len(args) == 2 and args[1].startswith(f"gui/{uid}/"):
        return 0
    if verb == "bootstrap" and len(args) == 3 and args[1] == f"gui/{uid}":
        with open(args[2], "rb") as f:
            label = plistlib.load(f)["Label"]
        if label in loaded:
            sys.stderr.write("Bootstrap failed: 5: Input/output error\n")
            return 5
        loaded[label] = args[2]
        return 0
    if verb in ("bootout", "print") and len(args) == 2 and args[1].startswith(f"gui/{uid}/"):
        label = args[1].removeprefix(f"gui/{uid}/")
        if label not in loaded:
            if verb == "print":
                sys.stderr.write(
                    f'Bad request.\nCould not find service "{label}" in domain for user gui: {uid}\n'
                )
                return 113
            sys.stderr.write("Boot-out failed: 3: No such process\n")
            return 3
        if verb == "bootout":
            del loaded[label]
            return 0
        shown = {"active count": "1", "path": loaded[label], "state": "running", "pid": "4242"}
        shown.update(state.get("print", {}))
        print(f"{args[1]} = {{")
        for key, value in shown.items():
            print(f"\t{key} = {value}")
        print("\tenvironment = {\n\t\tPATH => /usr/bin:/bin\n\t}")
        print("}")
        return 0
    sys.exit(f"fake launchctl: unexpected {args}")


def loginctl(args: list[str], state: dict) -> int:
    if len(args) == 4 and args[0] == "show-user" and args[2:] == ["--property=Linger", "--value"]:
        print(state.get("linger", "no"))
        return 0
    sys.exit(f"fake loginctl: unexpected {args}")


def main() -> int:
    name, args = sys.argv[1], sys.argv[2:]
    with open(state_dir() / "calls.jsonl", "a") as f:
        f.write(json.dumps({"argv": [name, *args]}) + "\n")
    state = load()
    code = {"systemctl": systemctl, "launchctl": launchctl, "loginctl": loginctl}[name](args, state)
    save(state)
    return code


if __name__ == "__main__":
    sys.exit(main())
