"""Args files in cosmo_args syntax: validate what users give, write what we embed.

The grammar (README "Args files") is implemented twice, here for the build-time
check and in runtime/lsone_args.cpp for the packaged server; the two accept the
same files and give the same tokens (tests/integration/test_runtime_parsers.py
compares them over a generated corpus). Text is handled as bytes: files are
decoded with surrogateescape, so bytes that are not UTF-8 pass through as they are.
"""

import re

from ..errors import InputError


class _Placeholder:
    def __repr__(self):
        return "PLACEHOLDER"


PLACEHOLDER = _Placeholder()  # an unquoted standalone `...`, unlike the literal text '...'
_SPACE = " \t\n\r\f\v"  # ASCII only: other Unicode spaces are part of an argument
_NAME = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
                   "e": "\x1b", "\\": "\\", '"': '"', "'": "'", "$": "$", "?": "?", "\n": ""}
_HEX = "0123456789abcdefABCDEF"
_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
_NUL_PROBLEM = "a NUL byte cannot be passed in an argument"


def _byte_char(value):
    """The character that stands for one byte in surrogateescape-decoded text."""
    return chr(value) if value < 0x80 else chr(0xDC00 + value)


class _Parser:
    """Mirrors runtime/lsone_args.cpp's parser, step for step (line numbers included)."""

    def __init__(self, text, origin, environ):
        self.s, self.origin, self.environ = text, origin, environ
        self.i, self.line = 0, 1

    def fail(self, at, problem):
        raise InputError(f"{self.origin}:{at}", problem,
                         fix="quote with '...' for literal text; escapes are \\n \\t \\\\ \\\" \\$ \\xHH")

    def more(self):
        return self.i < len(self.s)

    def advance(self):
        self.line += self.s[self.i] == "\n"
        self.i += 1

    def run(self):
        s, tokens = self.s, []
        if "\0" in s:
            self.fail(s.count("\n", 0, s.index("\0")) + 1, _NUL_PROBLEM)
        while True:
            while self.more() and s[self.i] in _SPACE:
                self.advance()
            if not self.more():
                return tokens
            if s[self.i] == "#":
                while self.more() and s[self.i] != "\n":
                    self.advance()
                continue
            token, literal = [], True
            while self.more() and s[self.i] not in _SPACE:
                c = s[self.i]
                if c == "'":
                    literal = False
                    self.single_quoted(token)
                elif c == '"':
                    literal = False
                    self.double_quoted(token)
                elif c == "\\":
                    literal, at = False, self.line
                    self.advance()
                    if not self.more():
                        self.fail(at, "backslash at the end of the file escapes nothing")
                    if s[self.i] != "\n":
                        token.append(s[self.i])  # backslash-newline continues the token
                    self.advance()
                else:
                    token.append(c)
                    self.advance()
            value = "".join(token)
            tokens.append(PLACEHOLDER if literal and value == "..." else value)

    def single_quoted(self, out):
        at = self.line
        self.advance()
        while self.more() and self.s[self.i] != "'":
            out.append(self.s[self.i])
            self.advance()
        if not self.more():
            self.fail(at, "unterminated single quote (')")
        self.advance()

    def variable(self, out):
        s, at, start = self.s, self.line, self.i
        self.advance()  # '$'
        braced = self.more() and s[self.i] == "{"
        if braced:
            self.advance()
        name_at = self.i
        while self.more() and s[self.i] in _NAME:
            self.advance()
        name = s[name_at:self.i]
        if braced:
            if not name or not self.more() or s[self.i] != "}":
                self.fail(at, "unterminated ${ in a double-quoted string: expected a name of letters, digits "
                              "and _, then }")
            self.advance()
        if not name:
            out.append("$")
        elif self.environ is None:
            out.append(s[start:self.i])  # expanded by the runtime, where it runs
        else:
            out.append(self.environ.get(name, ""))

    def double_quoted(self, out):
        s, at = self.s, self.line
        self.advance()
        while self.more() and s[self.i] != '"':
            if s[self.i] == "$":
                self.variable(out)
                continue
            if s[self.i] != "\\":
                out.append(s[self.i])
                self.advance()
                continue
            esc_line = self.line
            self.advance()
            if not self.more():
                break
            e = s[self.i]
            self.advance()
            if e == "0":
                self.fail(esc_line, "a NUL byte (\\0) cannot be passed in an argument")
            elif e == "x":
                digits = s[self.i:self.i + 2]
                if len(digits) < 2 or any(d not in _HEX for d in digits):
                    self.fail(esc_line, "bad escape \\x: expected two hex digits")
                if int(digits, 16) == 0:
                    self.fail(esc_line, "a NUL byte (\\x00) cannot be passed in an argument")
                out.append(_byte_char(int(digits, 16)))
                self.advance()
                self.advance()
            elif e in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[e])
            else:
                self.fail(esc_line, f"bad escape \\{e} in a double-quoted string")
        if not self.more():
            self.fail(at, 'unterminated double quote (")')
        self.advance()


def parse_args_text(text, origin="args", environ=None):
    """Return the list of arguments; PLACEHOLDER stands for an unquoted standalone `...`.

    text is str or bytes (decoded with surrogateescape). environ: a mapping to expand
    $VAR / ${VAR} with, as the runtime does; None keeps them as written (the build
    embeds them unexpanded). A malformed file raises InputError naming origin and line.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    return _Parser(text, origin, environ).run()


def quote_arg(arg):
    """One argument in args-file syntax; single quotes unless it is plainly safe."""
    if arg is PLACEHOLDER:
        return "..."
    if _SAFE.match(arg) and arg != "...":
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


_GENERATED = "# Generated by llama-server-one. Later arguments win."
_SECTION = "# --- "
_FROM_BUILD = _SECTION + "from the build"
_USER_SECTION = _SECTION + "args="


def compose_embedded_args(defaults_text, build_args, user_text=None, defaults_origin="assets/default.args",
                          user_origin="args=FILE"):
    """The embedded .args: defaults, then what the build knows, then the user's file.

    Files are validated, then kept verbatim so $VAR expands at run time as written.
    Later lines win, so a user's args file overrides the defaults.
    """
    parse_args_text(defaults_text, defaults_origin)
    parts = [_GENERATED, f"{_SECTION}{defaults_origin}", defaults_text.rstrip("\n")]
    if build_args:
        parts += [_FROM_BUILD] + [quote_arg(a) for a in build_args]
    if user_text is not None:
        parse_args_text(user_text, user_origin)
        parts += [f"{_SECTION}{user_origin}", user_text.rstrip("\n")]
    text = "\n".join(parts) + "\n"
    parse_args_text(text, ".args")
    return text


def split_embedded_args(text, origin="/zip/.args"):
    """The inverse of compose_embedded_args: (defaults_text, defaults_origin, user_text, user_origin).

    user_text is None when the file has no user section. The user's section is last, so its
    own lines may look like anything; only the defaults (ours) must not contain our headers.
    """
    lines = text.rstrip("\n").split("\n")
    if len(lines) < 2 or lines[0] != _GENERATED or not lines[1].startswith(_SECTION):
        raise InputError(origin, "was not written by llama-server-one's packager",
                         expected=f"a first line {_GENERATED!r} and a section header",
                         found=repr("\n".join(lines[:2])), fix="pass a llama-server-one executable")
    defaults_origin = lines[1][len(_SECTION):]
    ends = [i for i, line in enumerate(lines) if i > 1 and (line == _FROM_BUILD or line.startswith(_USER_SECTION))]
    defaults_end = ends[0] if ends else len(lines)
    user_at = next((i for i in ends if lines[i].startswith(_USER_SECTION)), None)
    defaults_text = "\n".join(lines[2:defaults_end])
    if user_at is None:
        return defaults_text, defaults_origin, None, None
    return defaults_text, defaults_origin, "\n".join(lines[user_at + 1:]), lines[user_at][len(_SECTION):]
