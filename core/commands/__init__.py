"""The subcommands of the ``inkpaint`` CLI, one module each."""
