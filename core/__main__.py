"""``python -m core`` is the ``inkpaint`` command."""

from .cli import main

raise SystemExit(main())
