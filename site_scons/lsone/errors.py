"""One error type for bad inputs, so every message has the same shape."""


class InputError(Exception):
    """A build input is missing, malformed or does not match its pin.

    The message names the input, what was expected, what was found and how
    to fix it.
    """

    def __init__(self, input_name, problem, expected=None, found=None, fix=None):
        self.input_name = input_name
        self.problem = problem
        self.expected = expected
        self.found = found
        self.fix = fix
        lines = [f"{input_name}: {problem}"]
        if expected is not None:
            lines.append(f"  expected: {expected}")
        if found is not None:
            lines.append(f"  found:    {found}")
        if fix:
            lines.append(f"  fix:      {fix}")
        super().__init__("\n".join(lines))
