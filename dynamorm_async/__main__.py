"""``python -m dynamorm_async``: the command line (see ``python -m dynamorm_async --help``)."""

from ._migrate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
