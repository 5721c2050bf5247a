"""Lua control flow for the TSP interpreter: blocks, loops, conditions, functions.

What drivers send to a 2600B beyond single statements (Lua 5.0 as the 2600B runs it; Series
2600B Reference Manual, "Fundamentals of scripting for TSP"): ``if ... then ... elseif ...
else ... end``, numeric ``for v = a, b [, step] do ... end``, ``while ... do ... end``,
``repeat ... until``, ``break``, ``function name(args) ... end`` (called like any function,
``return`` values), ``local`` (treated as global here: scripts drivers send do not rely on
scoping), comparisons (``== ~= < > <= >=``) and ``and``/``or``/``not``.

The interpreter evaluates while it parses; a block that must not run is parsed in "dry"
mode (syntax only), and a loop re-parses its body for each pass.
"""

from __future__ import annotations

from typing import Any

from mtj_hil.sim.lab.smu.tsp import (
    TspFunction,
    TspObject,
    _arith,
    _Interpreter,
    _lex,
    _single,
    runtime_error,
    syntax_error,
)

__all__ = ["ScriptObject", "run_chunk"]

_BLOCK_END = ("end", "else", "elseif", "until", "eof")
#: passes a loop may make before the interpreter gives up (a runaway script)
MAX_PASSES = 1_000_000


class _Break(Exception):
    pass


class _Return(Exception):
    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


class FlowInterpreter(_Interpreter):
    """:class:`~mtj_hil.sim.lab.smu.tsp._Interpreter` with blocks and control flow."""

    def chunk(self) -> None:
        self.block()
        if self.tok.kind != "eof":
            raise syntax_error(self.tok.text)

    def block(self) -> None:
        while not (
            self.tok.kind == "eof" or (self.tok.kind == "kw" and self.tok.text in _BLOCK_END)
        ):
            if self.tok.text == ";":
                self.take()
                continue
            self.statement()

    def skip_block(self) -> None:
        dry, self.dry = self.dry, True
        try:
            self.block()
        finally:
            self.dry = dry

    def statement(self) -> None:
        word = self.tok.text if self.tok.kind == "kw" else ""
        handler = {
            "if": self.s_if,
            "for": self.s_for,
            "while": self.s_while,
            "repeat": self.s_repeat,
            "function": self.s_function,
            "local": self.s_local,
            "return": self.s_return,
            "break": self.s_break,
            "do": self.s_do,
        }.get(word)
        if handler is None:
            super().statement()
        else:
            self.take()
            handler()

    # ------------------------------------------------------------------ statements

    def s_do(self) -> None:
        self.block()
        self.take("end")

    def s_if(self) -> None:
        done = False
        while True:
            cond = _truthy(_single(self.expression()))
            self.take("then")
            if cond and not done and not self.dry:
                self.block()
                done = True
            else:
                self.skip_block()
            if self.tok.text == "elseif":
                self.take()
                continue
            if self.tok.text == "else":
                self.take()
                if done or self.dry:
                    self.skip_block()
                else:
                    self.block()
            self.take("end")
            return

    def _loop(self, body_start: int, more: Any) -> None:
        """Run the body starting at token ``body_start`` while ``more()`` says so."""
        passes = 0
        end = None
        while not self.dry and more():
            passes += 1
            if passes > MAX_PASSES:
                raise runtime_error("loop did not end")
            self.pos = body_start
            try:
                self.block()
            except _Break:
                break
            end = self.pos
        self.pos = body_start
        self.skip_block()
        if end is not None and end != self.pos:
            raise syntax_error(self.tok.text)

    def s_for(self) -> None:
        name = self.take().text
        self.take("=")
        first = _single(self.expression())
        self.take(",")
        last = _single(self.expression())
        step = 1.0
        if self.tok.text == ",":
            self.take()
            step = _single(self.expression())
        self.take("do")
        start = self.pos
        if self.dry:
            self.skip_block()
        else:
            value = [float(first) - float(step)]

            def more() -> bool:
                value[0] += float(step)
                if (step > 0 and value[0] > last) or (step < 0 and value[0] < last) or step == 0:
                    return False
                self.env[name] = value[0]
                return True

            self._loop(start, more)
        self.take("end")

    def s_while(self) -> None:
        cond_start = self.pos

        def more() -> bool:
            self.pos = cond_start
            ok = _truthy(_single(self.expression()))
            self.take("do")
            return ok

        dry_cond = self.dry
        self.expression()
        self.take("do")
        start = self.pos
        if dry_cond:
            self.skip_block()
        else:
            self._loop(start, more)
            self.pos = start
            self.skip_block()
        self.take("end")

    def s_repeat(self) -> None:
        start = self.pos
        if self.dry:
            self.skip_block()
            self.take("until")
            self.expression()
            return
        passes = 0
        while True:
            passes += 1
            if passes > MAX_PASSES:
                raise runtime_error("loop did not end")
            self.pos = start
            try:
                self.block()
            except _Break:
                self.pos = start
                self.skip_block()
                self.take("until")
                dry, self.dry = self.dry, True
                self.expression()
                self.dry = dry
                return
            self.take("until")
            if _truthy(_single(self.expression())):
                return

    def s_function(self) -> None:
        name = self.take().text
        while self.tok.text == ".":  # function a.b(...) is not needed by drivers
            raise syntax_error(".")
        self.take("(")
        params: list[str] = []
        while self.tok.text != ")":
            params.append(self.take().text)
            if self.tok.text == ",":
                self.take()
        self.take(")")
        start = self.pos
        self.skip_block()
        self.take("end")
        if self.dry:
            return
        tokens, env = self.toks, self.env

        def call(*args: Any) -> Any:
            saved = {p: env.get(p) for p in params}
            for k, p in enumerate(params):
                env[p] = args[k] if k < len(args) else None
            body = FlowInterpreter(tokens, env, dry=False)
            body.pos = start
            try:
                body.block()
            except _Return as ret:
                return ret.values if len(ret.values) != 1 else ret.values[0]
            finally:
                env.update(saved)
            return None

        self.env[name] = TspFunction(call, name)

    def s_local(self) -> None:
        if self.tok.text == "function":
            self.take()
            self.s_function()
            return
        names = [self.take().text]
        while self.tok.text == ",":
            self.take()
            names.append(self.take().text)
        values: list[Any] = []
        if self.tok.text == "=":
            self.take()
            values.append(self.expression())
            while self.tok.text == ",":
                self.take()
                values.append(self.expression())
        if not self.dry:
            flat = [_single(v) for v in values]
            for k, n in enumerate(names):
                self.env[n] = flat[k] if k < len(flat) else None

    def s_return(self) -> None:
        values: list[Any] = []
        if not (self.tok.kind == "eof" or self.tok.text in _BLOCK_END or self.tok.text == ";"):
            values.append(_single(self.expression()))
            while self.tok.text == ",":
                self.take()
                values.append(_single(self.expression()))
        if not self.dry:
            raise _Return(tuple(values))

    def s_break(self) -> None:
        if not self.dry:
            raise _Break

    # ------------------------------------------------------------------ expressions

    def expression(self) -> Any:
        value = self.e_and()
        while self.tok.text == "or":
            self.take()
            if not self.dry and _truthy(_single(value)):
                dry, self.dry = self.dry, True
                self.e_and()
                self.dry = dry
            else:
                value = self.e_and()
        return value

    def e_and(self) -> Any:
        value = self.e_compare()
        while self.tok.text == "and":
            self.take()
            if not self.dry and not _truthy(_single(value)):
                dry, self.dry = self.dry, True
                self.e_compare()
                self.dry = dry
            else:
                value = self.e_compare()
        return value

    def e_compare(self) -> Any:
        value = self.e_not()
        while self.tok.text in ("==", "~=", "<", ">", "<=", ">="):
            op = self.take().text
            rhs = _single(self.e_not())
            if not self.dry:
                value = _compare(op, _single(value), rhs)
        return value

    def e_not(self) -> Any:
        if self.tok.text == "not":
            self.take()
            value = _single(self.e_not())
            return None if self.dry else not _truthy(value)
        return super().expression()


class ScriptObject(TspObject):
    """A named script: calling it (``name()``) or ``name.run()`` runs its text."""

    def __init__(self, name: str, run: Any) -> None:
        super().__init__(name)
        self.run = run
        self.attrs["run"] = (lambda: TspFunction(lambda *a: run(), "run"), None)

    def __call__(self, *args: Any) -> Any:
        return self.run()


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "~=":
        return bool(a != b)
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    if not numbers and not (isinstance(a, str) and isinstance(b, str)):
        raise runtime_error("attempt to compare two values of different types")
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def run_chunk(text: str, env: dict[str, Any]) -> None:
    """Parse (syntax check) and then run a Lua chunk against ``env``.

    :raises TspError: -285 syntax error (nothing ran), -286 runtime error.
    """
    tokens = _lex(text)
    FlowInterpreter(tokens, env, dry=True).chunk()
    FlowInterpreter(tokens, env, dry=False).chunk()


_ = _arith  # arithmetic stays in the base interpreter
