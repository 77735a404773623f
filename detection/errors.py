"""The one base class of errors a person can act on.

The command line prints these as one line without a traceback; anything else is a bug.
"""


class MirrorScopeError(Exception):
    """An error whose message says what is wrong and what would be right."""
