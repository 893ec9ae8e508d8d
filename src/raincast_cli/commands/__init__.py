"""Subcommands of the ``raincast`` CLI, one module each."""
