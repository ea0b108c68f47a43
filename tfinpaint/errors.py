"""The one exception type that means "the user gave us something wrong".

Library code raises InputError with a message that fits on one line; the
CLIs in bin/ turn it into that line on stderr and exit code 2. Anything
else that escapes is a bug and keeps its traceback.
"""


class InputError(ValueError):
  """Bad user input: a missing path, a corrupt file, a wrong shape, a NaN."""
