"""The engine's model registry, as /health reports it.

The field names are the real engine's kind: ``schema`` (the input schema a model expects)
and ``model_validate_inputs``. pydantic warns about both when the classes are defined
(``UserWarning: Field name "schema" ... shadows an attribute in parent "BaseModel"``, and a
protected-namespace conflict), so importing this module prints the dependency warnings a
healthy real engine prints on stderr.
"""

from __future__ import annotations

from pydantic import BaseModel


class ModelEntry(BaseModel):
    name: str
    version: str
    schema: str
    model_validate_inputs: bool = True


REGISTERED_MODELS = (
    ModelEntry(name="protocol-discovery", version="1.0.0", schema="packet-capture/v1"),
    ModelEntry(name="field-detector", version="1.0.0", schema="byte-sequence/v1"),
)


def loaded_models() -> list[dict[str, object]]:
    return [entry.model_dump() for entry in REGISTERED_MODELS]
