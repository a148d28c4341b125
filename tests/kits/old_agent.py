"""The real agent, speaking an older protocol version: `python -m tests.kits.old_agent run --config PATH`.

Only the version it announces is older (PROTOCOL_VERSION - 1, or CODEXHUB_TEST_PROTOCOL); a hub
must refuse it before anything it sends is applied."""

import os
import sys

import protocol.version

if __name__ == "__main__":
    protocol.version.PROTOCOL_VERSION = int(
        os.environ.get("CODEXHUB_TEST_PROTOCOL", protocol.version.PROTOCOL_VERSION - 1)
    )
    from hostagent.__main__ import main  # after the patch: the link reads the version at import

    sys.exit(main(sys.argv[1:]))
