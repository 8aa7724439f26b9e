"""The one base of every frozen configuration model: immutable, strict about keys, finite numbers."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict

__all__ = ["FrozenModel"]


class FrozenModel(BaseModel):
    """A frozen pydantic model that refuses unknown keys and non-finite numbers.

    Frozen, because a rig or plan is snapshotted into a session and must not change under a running
    engine; ``extra="forbid"``, because a misspelt key in a YAML file must be reported at its line, not
    silently ignored; ``allow_inf_nan=False``, because ``.inf`` or ``.nan`` in a file is always a typo.
    Subclasses may add to ``model_config`` (pydantic merges it with this one).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied, validated like a newly loaded model.

        Unlike ``model_copy(update=...)``, which trusts its input, every field and model validator runs
        again, so a copy can never hold a value the model would refuse.

        Parameters
        ----------
        **changes
            New values by field name (plain data or models).

        Returns
        -------
        Self
            A new instance of the same class; this one is unchanged.

        Raises
        ------
        pydantic.ValidationError
            When a change is not a valid value, or names no field.
        """
        return type(self).model_validate({**self._replace_state(), **changes})

    def _replace_state(self) -> dict[str, Any]:
        """What this model was made from: the fields given (or set by validators), nested ones as plain data.

        Plain data, so validators that read their input as a document (``mode="before"``) see what they
        would see in a file; fields left at their defaults stay unset, so ``model_fields_set`` (and any
        ``exclude_unset`` dump) means the same on the copy.
        """
        return self.model_dump(exclude_unset=True)
