"""The one exception type users see.

Every bad input (missing frame, corrupt image, wrong weights, bad range) is raised as an
``InkpaintError`` whose message is a single line telling the user what to fix. The CLI prints
it as ``inkpaint: error: <message>`` and exits non-zero; adapters show it in their own UI.
"""


class InkpaintError(Exception):
    """A user-fixable problem, described in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def from_os_error(exc: OSError) -> InkpaintError:
    """A file-system failure (full disk, permissions, a file where a folder should be) the
    checks could not foresee, as the one line a user reads."""
    where = f"{exc.filename}: " if exc.filename else ""
    return InkpaintError(f"{where}{exc.strerror or exc}")
