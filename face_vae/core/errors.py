"""The one exception type for problems a user can cause and fix, and the helpers its messages share (a password in
a URL never reaches the screen: `mask_text`)."""

import re

MASK = "***"
# Everything between `scheme://` and the last `@` before a space: the user part, even when a password holds a
# `/`, `?`, `#` or `@` that the URL should have percent-encoded (masking too much is harmless, too little is not).
URL_USER_PART = re.compile(r"(\b[a-zA-Z][\w+.-]*://)\S*@")


class UserError(Exception):
    """A problem the user can fix; its message is one sentence saying what is wrong and what to do.

    The CLI prints it as one line and exits with code 1; everything else stays a traceback.
    """


class Terminated(SystemExit):
    """SIGTERM (`kill`, a scheduler's stop) raised where the program is, so that temporary files are removed on
    the way out as on Ctrl-C; its code is 128 + the signal's number."""


def first_line(error: BaseException) -> str:
    """The first line of a library's error (its traceback-like rest tells a user nothing), or its type's name."""
    text = str(getattr(error, "message", "") or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def listed(names: list, most: int = 3) -> str:
    """'a, b, c and 4 more': the first `most` of `names`, and how many are left out."""
    return ", ".join(str(name) for name in names[:most]) + (f" and {len(names) - most} more" if names[most:] else "")


def mask_text(text: object) -> str:
    """`text` with the credentials of every URL in it replaced by *** (a library's error message may quote one)."""
    return URL_USER_PART.sub(rf"\g<1>{MASK}@", str(text))
