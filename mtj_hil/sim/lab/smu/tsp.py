"""A small interpreter for the Lua subset that TSP instruments are driven with.

Keithley's Test Script Processor runs Lua: a remote client sends statements such as
``smua.source.levelv = 0.1``, ``smua.measure.i(smua.nvbuffer1)`` or
``print(smua.measure.i(), smua.source.compliance)``. This module parses such lines (assignments
to attribute paths, function calls, tables of values, arithmetic, strings, ``nil``/``true``/
``false``, ``--`` comments, several statements per line) and evaluates them against an object
tree the instrument provides (:class:`TspObject`). Control flow (``if``, ``for``, ``function``,
``local``) and script management are not modelled: they are refused as syntax errors.

Errors are raised as :class:`TspError` with the instrument's codes: -285 for a syntax error and
-286 for a runtime error (e.g. indexing a nil value), with Lua's message text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TspError", "TspFunction", "TspObject", "TspTable", "run"]


class TspError(Exception):
    """A TSP error to queue: ``code`` and message."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def syntax_error(near: str) -> TspError:
    """-285 as the instrument words it."""
    return TspError(-285, f"TSP Syntax error at line 1: unexpected symbol near `{near}'")


def runtime_error(message: str) -> TspError:
    """-286 as the instrument words it."""
    return TspError(-286, f"TSP Runtime error at line 1: {message}")


class TspFunction:
    """A callable exposed to TSP; ``fn(*args)`` returns a value, a tuple (several) or None."""

    def __init__(self, fn: Callable[..., Any], name: str = "function") -> None:
        self.fn = fn
        self.name = name

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class TspTable(list[Any]):
    """A Lua table constructor's array part (``{1, 2, 3}``)."""


class TspObject:
    """An instrument object: attributes read with :meth:`get`, written with :meth:`set`.

    Subclasses fill :attr:`attrs` with ``name -> (getter, setter or None)`` and/or override
    :meth:`get`/:meth:`set`; a name not there is nil on read and an error on write.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.attrs: dict[str, tuple[Callable[[], Any], Callable[[Any], None] | None]] = {}

    def get(self, key: str) -> Any:
        entry = self.attrs.get(key)
        return None if entry is None else entry[0]()

    def set(self, key: str, value: Any) -> None:
        entry = self.attrs.get(key)
        if entry is None:
            raise runtime_error(f"attempt to set unknown field `{key}' of {self.name}")
        if entry[1] is None:
            raise runtime_error(f"field `{key}' of {self.name} is read-only")
        entry[1](value)

    def index(self, key: Any) -> Any:
        """``obj[key]``; nil unless a subclass says otherwise."""
        return None


# ---------------------------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
      | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<op>==|~=|<=|>=|\.\.|[=(){}\[\],.;+\-*/^<>\#])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}  # fmt: skip


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, name, str, op, kw, eof
    text: str


def _lex(line: str) -> list[_Tok]:
    line = line.split("--", 1)[0] if "--" in line and not re.search(r"[\"'].*--", line) else line
    tokens = []
    pos = 0
    while pos < len(line):
        if line[pos:].strip() == "":
            break
        m = _TOKEN.match(line, pos)
        if m is None:
            raise syntax_error(line[pos:].strip()[:1])
        kind = m.lastgroup or "op"
        text = m.group(kind)
        if kind == "name" and text in _KEYWORDS:
            kind = "kw"
        tokens.append(_Tok(kind, text))
        pos = m.end()
    tokens.append(_Tok("eof", "<eof>"))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parser + evaluator (evaluates while parsing; lines are short)
# ---------------------------------------------------------------------------------------------


class _Ref:
    """An assignable place: ``container.key`` or a global."""

    def __init__(self, container: Any, key: Any, value: Any) -> None:
        self.container = container
        self.key = key
        self.value = value


class _Interpreter:
    def __init__(self, tokens: list[_Tok], env: dict[str, Any], dry: bool) -> None:
        self.toks = tokens
        self.pos = 0
        self.env = env
        self.dry = dry  # syntax check only: nothing is read, called or assigned

    @property
    def tok(self) -> _Tok:
        return self.toks[self.pos]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.tok
        if text is not None and tok.text != text:
            raise syntax_error(tok.text)
        self.pos += 1
        return tok

    def chunk(self) -> None:
        while self.tok.kind != "eof":
            if self.tok.text == ";":
                self.take()
                continue
            self.statement()

    def statement(self) -> None:
        if self.tok.kind != "name":
            raise syntax_error(self.tok.text)
        ref, called = self.prefix()
        if self.tok.text == "=":
            if called:
                raise syntax_error("=")
            self.take()
            value = self.expression()
            self.assign(ref, value)
        elif not called:
            raise syntax_error(self.tok.text)

    def assign(self, ref: _Ref, value: Any) -> None:
        if self.dry:
            return
        if isinstance(value, tuple):
            value = value[0] if value else None
        if ref.container is None:
            current = self.env.get(ref.key)
            if current is not None and not isinstance(current, int | float | str | TspTable):
                raise runtime_error(f"attempt to overwrite `{ref.key}'")
            self.env[ref.key] = value
        elif isinstance(ref.container, TspObject):
            ref.container.set(ref.key, value)
        else:
            raise runtime_error(f"attempt to index a {_type(ref.container)} value")

    def prefix(self) -> tuple[_Ref, bool]:
        """A name followed by ``.field``, ``[exp]`` and call suffixes; (place, ended in call)."""
        name = self.take().text
        ref = _Ref(None, name, self.env.get(name))
        called = False
        while True:
            text = self.tok.text
            if text == "." or text == "[":
                self.take()
                if text == ".":
                    tok = self.take()
                    if tok.kind not in ("name", "kw"):
                        raise syntax_error(tok.text)
                    key: Any = tok.text
                else:
                    key = _single(self.expression())
                    self.take("]")
                container = ref.value
                if self.dry:
                    value = None
                elif isinstance(container, TspObject):
                    value = container.get(key) if isinstance(key, str) else container.index(key)
                elif isinstance(container, TspTable) and isinstance(key, int | float):
                    k = int(key)
                    value = container[k - 1] if 1 <= k <= len(container) else None
                else:
                    kind = "field" if ref.container is not None else "global"
                    raise runtime_error(
                        f"attempt to index {kind} `{ref.key}' (a {_type(container)} value)"
                    )
                ref = _Ref(container, key, value)
                called = False
            elif text == "(" or text == "{" or self.tok.kind == "str":
                args = self.call_args()
                fn = ref.value
                if self.dry:
                    ref, called = _Ref(None, "", None), True
                    continue
                if not callable(fn):
                    raise runtime_error(f"attempt to call field `{ref.key}' (a {_type(fn)} value)")
                result = fn(*args)
                ref = _Ref(None, f"{ref.key}()", result)
                called = True
            else:
                return ref, called

    def call_args(self) -> list[Any]:
        if self.tok.text == "{":
            return [self.table()]
        if self.tok.kind == "str":
            return [_unescape(self.take().text)]
        self.take("(")
        args: list[Any] = []
        if self.tok.text != ")":
            args.append(self.expression())
            while self.tok.text == ",":
                self.take()
                args.append(self.expression())
        self.take(")")
        flat: list[Any] = [_single(a) for a in args[:-1]]
        if args:
            last = args[-1]
            flat.extend(last if isinstance(last, tuple) else [last])
        return flat

    def table(self) -> TspTable:
        self.take("{")
        items = TspTable()
        while self.tok.text != "}":
            items.append(_single(self.expression()))
            if self.tok.text in (",", ";"):
                self.take()
            elif self.tok.text != "}":
                raise syntax_error(self.tok.text)
        self.take("}")
        return items

    # expressions: additive > multiplicative > unary > power > atom
    def expression(self) -> Any:
        value = self.term()
        while self.tok.text in ("+", "-", ".."):
            op = self.take().text
            rhs = _single(self.term())
            value = None if self.dry else _arith(op, _single(value), rhs)
        return value

    def term(self) -> Any:
        value = self.unary()
        while self.tok.text in ("*", "/"):
            op = self.take().text
            rhs = _single(self.unary())
            value = None if self.dry else _arith(op, _single(value), rhs)
        return value

    def unary(self) -> Any:
        if self.tok.text == "-":
            self.take()
            value = _single(self.unary())
            return None if self.dry else _arith("*", -1.0, value)
        if self.tok.text == "#":
            self.take()
            value = _single(self.unary())
            if self.dry:
                return None
            if not isinstance(value, TspTable | str):
                raise runtime_error(f"attempt to get length of a {_type(value)} value")
            return float(len(value))
        return self.power()

    def power(self) -> Any:
        value = self.atom()
        if self.tok.text == "^":
            self.take()
            rhs = _single(self.unary())
            value = None if self.dry else _arith("^", _single(value), rhs)
        return value

    def atom(self) -> Any:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            return float(tok.text)
        if tok.kind == "str":
            self.take()
            return _unescape(tok.text)
        if tok.kind == "kw" and tok.text in ("nil", "true", "false"):
            self.take()
            return {"nil": None, "true": True, "false": False}[tok.text]
        if tok.text == "{":
            return self.table()
        if tok.text == "(":
            self.take()
            value = _single(self.expression())
            self.take(")")
            return value
        if tok.kind == "name":
            return self.prefix()[0].value
        raise syntax_error(tok.text)


def _single(value: Any) -> Any:
    if isinstance(value, tuple):
        return value[0] if value else None
    return value


def _type(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "table"


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "..":
        if not all(isinstance(x, str | int | float) and not isinstance(x, bool) for x in (a, b)):
            raise runtime_error("attempt to concatenate a nil value")
        return f"{_lua_str(a)}{_lua_str(b)}"
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
        bad = a if not isinstance(a, int | float) or isinstance(a, bool) else b
        raise runtime_error(f"attempt to perform arithmetic on a {_type(bad)} value")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "^":
        return float(a) ** float(b)
    return a / b if b else (float("inf") if a > 0 else float("-inf") if a < 0 else float("nan"))


def _lua_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unescape(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def run(line: str, env: dict[str, Any]) -> None:
    """Parse and execute one line of TSP statements against ``env`` (the global table).

    Side effects (output) happen through the functions in ``env``.

    :raises TspError: -285 syntax error, -286 runtime error, or an instrument error raised
        by an object.
    """
    tokens = _lex(line)
    _Interpreter(tokens, env, dry=True).chunk()  # Lua compiles the whole chunk first
    _Interpreter(tokens, env, dry=False).chunk()
