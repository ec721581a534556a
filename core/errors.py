"""The one exception type users see.

Every bad input (missing frame, corrupt image, wrong weights, bad range) is raised as an
``InkpaintError`` whose message is a single line telling the user what to fix. The CLI prints
it as ``inkpaint: error: <message>`` and exits non-zero; adapters show it in their own UI.
"""


class InkpaintError(Exception):
    """A user-fixable problem, described in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
