"""Errors a user can act on: one paragraph, no traceback, exit status 1."""
from __future__ import annotations


class InputError(Exception):
    """Bad input (data file, config, command line). The message names the file,
    the row or column, and the rule that was broken."""
