"""`python -m microgpt` runs the CLI."""

from microgpt.cli.app import main

main()
