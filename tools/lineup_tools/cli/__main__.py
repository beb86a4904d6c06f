"""`python -m lineup_tools.cli`: the same as the `lineup` console script."""

from lineup_tools.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
