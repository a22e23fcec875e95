"""Field types shared by the request and response models, and the one error shape.

Request strings never hold NUL (PostgreSQL cannot store it); keys follow the SDK's rules;
integers that land in 64-bit columns are bounded. Stored text has the limits of
:mod:`modelyard.limits`: the services enforce them (their refusal names the field and the
limit) and the types here advertise them as ``maxLength``. Floats may be NaN or ±inf where
that means something (a metric's value): answers write them as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"`` (JSON has no such numbers) and requests may too; a duration
or a cost (``NonNegative``) is finite and at least 0.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from modelyard import limits
from modelyard._util import validate_key

__all__ = [
    "NUL_FREE",
    "Description",
    "EntryPoint",
    "ErrorBody",
    "ErrorResponse",
    "Int64",
    "Key",
    "NonNegative",
    "ParamValue",
    "Public",
    "RunId",
    "RunName",
    "ShortText",
    "TagValue",
    "Text",
]

NUL_FREE = r"^[^\x00]*$"

Text = Annotated[str, StringConstraints(pattern=NUL_FREE)]
ShortText = Annotated[str, StringConstraints(max_length=limits.SHORT_TEXT, pattern=NUL_FREE)]


def _max(limit: int) -> Any:
    """``maxLength`` in the OpenAPI document for a string the service holds to ``limit``."""
    return Field(json_schema_extra={"maxLength": limit})


RunName = Annotated[Text, _max(limits.RUN_NAME)]
TagValue = Annotated[Text, _max(limits.TAG_VALUE)]
ParamValue = Annotated[Text, _max(limits.PARAM_VALUE)]
Description = Annotated[Text, _max(limits.DESCRIPTION)]
EntryPoint = Annotated[Text, _max(limits.ENTRY_POINT)]


def _key(value: str) -> str:
    return validate_key(value, "key")


Key = Annotated[str, StringConstraints(min_length=1, max_length=limits.KEY), AfterValidator(_key)]
RunId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Int64 = Annotated[int, Field(ge=0, le=limits.INTEGER)]
#: A duration, a cost: finite and never negative (NaN and infinities are refused).
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Public(BaseModel):
    """Base of every answer model: built from service objects, NaN/inf as strings."""

    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine code: not_found, invalid_input, conflict, ...")
    message: str = Field(description="What went wrong, for people.")
    field: str | None = Field(description="The input field at fault, when there is one.")


class ErrorResponse(BaseModel):
    """The one error shape of every endpoint."""

    error: ErrorBody
