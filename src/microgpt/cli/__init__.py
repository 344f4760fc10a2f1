"""The `microgpt` command line: thin typer commands, one per file, each calling the Python API of the same name."""
