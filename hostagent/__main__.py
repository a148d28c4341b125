import argparse
import sys

from hostagent import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hostagent",
        description="codexhub host agent: pairs this machine with a hub and runs its tasks.",
    )
    parser.add_argument("--version", action="version", version=f"hostagent {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("hostagent: pairing and the host link are not available in this version yet.")
    return 2


if __name__ == "__main__":
    sys.exit(main())
