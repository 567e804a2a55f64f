"""``python -m flowyml``: the ``flowyml`` command, for environments without the console script on PATH."""

if __name__ == "__main__":
    from flowyml.cli.main import main

    raise SystemExit(main())
