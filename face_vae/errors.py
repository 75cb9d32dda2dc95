"""The one exception type for problems a user can cause and fix."""


class UserError(Exception):
    """A problem the user can fix; its message is one sentence saying what is wrong and what to do.

    The CLI prints it as one line and exits with code 1; everything else stays a traceback.
    """
