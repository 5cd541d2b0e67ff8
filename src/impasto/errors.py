"""The one exception type that reaches users.

Everything a user can get wrong (a path, a number, a layer name, a file that is not an image)
is raised as :class:`ImpastoError` with a message that fits on one line. The CLI prints it and
exits with status 2; anything else escaping is a bug in impasto.
"""


class ImpastoError(Exception):
    """A problem with the user's input, explained in one line."""
