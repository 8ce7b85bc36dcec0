"""Engine catalogs: which engine a body comes from, and its canonical signals.

``detect`` looks at the metric names (vLLM, then SGLang, then Dynamo's frontend, so a
Dynamo worker that re-exports its engine's metrics reads as that engine); ``read`` applies
the catalog. Adding an engine is adding a module with a ``CATALOG`` and listing it here.
"""

from __future__ import annotations

from llmobs.engines import dynamo, sglang, vllm
from llmobs.engines.catalog import Catalog, EngineSnapshot, Naming, read
from llmobs.errors import UnknownEngine
from llmobs.exposition.model import Exposition

CATALOGS: tuple[Catalog, ...] = (vllm.CATALOG, sglang.CATALOG, dynamo.CATALOG)
BY_ENGINE: dict[str, Catalog] = {c.engine: c for c in CATALOGS}
# What a selective parse keeps so that ``detect`` and ``snapshot`` read any engine's body as
# from a full parse (detection reads family names, which a selective parse keeps anyway).
WANTED: frozenset[str] = frozenset().union(*(c.wanted() for c in CATALOGS))


def detect(exposition: Exposition) -> Catalog:
    """The catalog of the engine that wrote ``exposition``.

    Raises:
        UnknownEngine: no family of any known engine is in the body.
    """
    for catalog in CATALOGS:
        if catalog.present(exposition):
            return catalog
    raise UnknownEngine(
        f"no vLLM, SGLang or Dynamo metrics among the {len(exposition.names())} families in "
        "the body (SGLang needs --enable-metrics; is this the engine's /metrics URL?)"
    )


def snapshot(exposition: Exposition, engine: str | None = None) -> EngineSnapshot:
    """Detect the engine (or use ``engine``) and read its canonical signals.

    Raises:
        UnknownEngine: nothing recognisable, or ``engine`` is not one we know.
    """
    if engine is None:
        return read(exposition, detect(exposition))
    catalog = BY_ENGINE.get(engine)
    if catalog is None:
        raise UnknownEngine(f"unknown engine {engine!r}; known: {', '.join(BY_ENGINE)}")
    return read(exposition, catalog)


__all__ = [
    "BY_ENGINE",
    "CATALOGS",
    "WANTED",
    "Catalog",
    "EngineSnapshot",
    "Naming",
    "detect",
    "snapshot",
]
