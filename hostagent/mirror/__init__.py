"""The file mirror (docs/protocol.md, "The mirror"): shared project folders, scanned,
indexed and watched, sent to the hub as `mirror.batch` messages on stream `mirror`.

- `paths`: the protocol's path rules (relative, POSIX, NFC, no traversal).
- `ignore`: `.gitignore` files and `.git/info/exclude`.
- `scan`: walking a project without following symlinks or opening special files.
- `index`: what has been queued to the hub (SQLite beside the outbox).
- `diff`: scan vs index.
- `batches`: `mirror.batch` payloads of at most 512 KiB of JSON.
- `watch`: watchdog observers, debounced into the asyncio loop.
- `inotify`: on Linux, watches only for the folders a scan enters.
- `sync`: `Mirror`, which ties them to a `HostLink`.
"""
