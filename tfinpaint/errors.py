"""The one exception type that means "the user gave us something wrong".

Library code raises InputError with a message that fits on one line; the
CLIs in bin/ turn it into that line on stderr and exit code 2. Anything
else that escapes is a bug and keeps its traceback.
"""


class InputError(ValueError):
  """Bad user input: a missing path, a corrupt file, a wrong shape, a NaN."""


def first_line(text, limit=160):
  """The first line of an error's text, at most `limit` characters (for one-line messages)."""
  text = str(text).strip()
  line = text.splitlines()[0] if text else type(text).__name__
  return line if len(line) <= limit else line[:limit - 3] + "..."


def printable(path):
  """A path as text that any terminal or UTF-8 file can hold: bytes that are not UTF-8 (file
  names on Linux may hold any) shown as \\x escapes."""
  try:
    raw = str(path).encode("utf-8", "surrogateescape")
  except UnicodeEncodeError:  # a surrogate that no file name decoded to
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")
  return raw.decode("utf-8", "backslashreplace")
