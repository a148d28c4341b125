"""The base of every protocol model, the kinds of text a host may send, and the
short reason a refused message is given.

The hub parses frames with json.loads, so any string may hold NUL or a lone
surrogate ("\\ud800"), a number may be 1e400 or NaN, and `true` is not an
integer here. Models are strict (no coercion: a bool is not an int, "7" is not
7), refuse NaN and infinities, and ignore keys they do not know (a newer agent
may send more) unless a model says otherwise. Text comes in three kinds:

- display text (`Annotated[str, Display(n)]`): shown to people, never opened or compared, so
  it is cut to its cap, never refused for its length, with NUL as U+FFFD and
  lone surrogates as "?" (what Postgres text cannot hold);
- names (`Annotated[str, Name(n)]`): 1-n characters without control characters (bidi
  controls included) or lone surrogates, refused otherwise;
- tokens (`Annotated[str, Token(regex, message)]`): ASCII identifiers matched whole.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictInt,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

from protocol.limits import MAX_ID
from protocol.paths import InvalidPath, mirror_path
from protocol.text import CONTROL, clean, unencodable

MAX_REASON = 200


def refuse(message: str) -> PydanticCustomError:
    """The error a validator raises: `message` becomes the reason, as is."""
    return PydanticCustomError("protocol", message)


class ProtocolModel(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        allow_inf_nan=False,
        hide_input_in_errors=True,
        validate_default=False,
        defer_build=True,
    )


class Sequenced(ProtocolModel):
    """The payload of a sequenced message from a host: `{type, stream, seq, payload}`.
    Each concrete subclass names its stream and type and is registered under them."""

    stream: ClassVar[str]
    type: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            key = (cls.stream, cls.type)
            if key in SEQUENCED and SEQUENCED[key] is not cls:
                raise TypeError(f"two models for {key}")
            SEQUENCED[key] = cls


# (stream, type) -> the model of its payload: every sequenced message a host may send.
SEQUENCED: dict[tuple[str, str], type[Sequenced]] = {}


def payload(message: Sequenced) -> dict[str, Any]:
    """The message's payload as JSON-ready data, as the agent sends it."""
    return message.model_dump(mode="json")


# Text ---------------------------------------------------------------------------------------


def _cut(limit: int) -> Callable[[str], str]:
    def cut(value: str) -> str:
        return clean(value[:limit])

    return cut


def Display(limit: int, *, null: bool = False) -> AfterValidator | WrapValidator:  # noqa: N802 (names a kind)
    """Display text, as `Annotated[str, Display(n)]`: cut to `limit` characters and cleaned,
    never refused for its length. `null`: null is taken as "" (where the agent may leave a
    text out that way)."""
    cut = _cut(limit)
    if not null:
        return AfterValidator(cut)

    def null_as_empty(value: object, handler: ValidatorFunctionWrapHandler) -> str:
        return cut(handler("" if value is None else value))

    return WrapValidator(null_as_empty)


@dataclass(frozen=True)
class Choice:
    """One of `values`, as `Annotated[str, Choice(values, default)]`; null (or nothing) is `default`.
    Validated as the Literal of `values`, so a wrong value is refused the way a Literal is."""

    values: tuple[str, ...]
    default: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        literal = handler.generate_schema(Literal[self.values])
        default = self.default
        return core_schema.no_info_before_validator_function(
            lambda value: default if value is None else value, literal
        )


def _cut_list(limit: int) -> Callable[[object], object]:
    def cut(value: object) -> object:
        if value is None:
            return []
        return value[:limit] if isinstance(value, list) else value

    return cut


def CutList(limit: int) -> BeforeValidator:  # noqa: N802 (names a kind)
    """A list cut to `limit` entries, as `Annotated[list[Item], CutList(n)]` (display data: never
    refused for its length); null is []."""
    return BeforeValidator(_cut_list(limit))


def _name(limit: int, what: str, empty: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit or not (value or empty):
            raise refuse(f"{what} is {0 if empty else 1}-{limit} characters")
        if CONTROL.search(value):
            raise refuse(f"{what} must not contain control characters")
        if unencodable(value):
            raise refuse(f"{what} must be valid Unicode (no lone surrogates)")
        return value

    return check


def Name(limit: int, what: str = "a name", *, empty: bool = False) -> AfterValidator:  # noqa: N802 (names a kind)
    """As `Annotated[str, Name(n)]`: 1-`limit` characters (0- with `empty`), without control
    characters or lone surrogates: refused otherwise."""
    return AfterValidator(_name(limit, what, empty))


def _exact(limit: int, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not 0 < len(value) <= limit or "\x00" in value or unencodable(value):
            raise refuse(f"{what} must be text of 1-{limit} characters")
        return value

    return check


def Exact(limit: int, what: str) -> AfterValidator:  # noqa: N802 (names a kind)
    """As `Annotated[str, Exact(n, what)]`: text that is compared, never cut: 1-`limit`
    characters without NUL or lone surrogates."""
    return AfterValidator(_exact(limit, what))


def _token(pattern: re.Pattern[str], message: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise refuse(message)
        return value

    return check


def Token(pattern: re.Pattern[str], message: str) -> AfterValidator:  # noqa: N802 (names a kind)
    """As `Annotated[str, Token(regex, message)]`: matched whole, else refused with `message`."""
    return AfterValidator(_token(pattern, message))


def _path(value: str) -> str:
    try:
        return mirror_path(value)
    except InvalidPath as exc:
        raise refuse(str(exc)) from None


MirrorPath = Annotated[str, AfterValidator(_path)]


# A positive id (a task's, a message's).
Id = Annotated[StrictInt, Field(gt=0, lt=MAX_ID)]


# Why a message was refused ------------------------------------------------------------------

_SHOULD = re.compile(r"^(?:Input|List|String|Value|Dictionary|Tuple|Set|Object) should ")
_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "finite_number": "must be a finite number",
}


def error_text(error: ErrorDetails) -> str:
    """One pydantic error as `where: what`, e.g. "changes.3.path: a path must be relative"."""
    kind, message = error["type"], error["msg"]
    if kind in _PLAIN:
        message = _PLAIN[kind]
    elif kind == "value_error" and message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif kind != "protocol":
        message = _SHOULD.sub("must ", message)
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message


def reason(exc: ValidationError, limit: int = MAX_REASON) -> str:
    """A short, readable reason for a refused message: its first error."""
    errors = exc.errors(include_url=False, include_input=False)
    text = error_text(errors[0]) if errors else "invalid message"
    return text if len(text) <= limit else text[: limit - 1] + "…"
