"""`python -m lineup.cli`: the same as the `lineup` console script."""

from lineup.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
