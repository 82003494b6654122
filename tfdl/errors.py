"""The errors a user can cause, which the ``tfdl`` command reports in one line.

Anything else that escapes a command is a bug in tfdl and shows its traceback.
"""


class UserError(ValueError):
    """Something the user can fix: a bad flag value, input file or model directory.

    A `ValueError`, so callers of the library that catch ValueError still catch it.
    """


class MissingFileError(UserError, FileNotFoundError):
    """A file or directory the user named, or that a command needs, is not there."""
