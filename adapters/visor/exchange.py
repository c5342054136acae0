"""Export and import of nominal records, on top of ``hub.services.visor_export`` and
``hub.services.visor``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.visor import format as fmt
from hub.errors import InvalidInput, TooLarge
from hub.services.actor import Actor
from hub.services.visor import Imported, VisorRecordService
from hub.services.visor_export import Exported, VisorExportService


class VisorInvalid(InvalidInput):
    """A record that fails its checks: every problem, by path (``errors``)."""

    code = "invalid_record"

    def __init__(self, problems: list[fmt.Problem]) -> None:
        count = len(problems)
        super().__init__(
            f"The record has {count} problem{'s' if count != 1 else ''}: nothing was imported.",
            errors=[p.as_field() for p in problems],
        )


async def export_record(
    exporter: VisorExportService, actor: Actor | None, reference: str | int
) -> Exported:
    """The case's record as a file (the policy decides; the log records it)."""
    return await exporter.export(actor, reference, fmt.render)


class VisorExchange:
    def __init__(self, service: VisorRecordService) -> None:
        self._service = service

    async def problems(self, doc: Any) -> list[fmt.Problem]:
        return fmt.check(
            doc, today=self._service.today(), agencies=await self._service.agency_codes()
        )

    async def import_file(self, actor: Actor | None, data: bytes) -> Imported:
        """Check every field of ``data`` and, only if all pass, create or update the case and
        its record in one transaction. ``VisorInvalid`` lists every problem by path."""
        # Before reading the file: a refusal says nothing about its content.
        self._service.require_importer(actor)
        if len(data) > fmt.MAX_BYTES:
            raise TooLarge(f"The file is larger than {fmt.MAX_BYTES // (1024 * 1024)} MB.")
        doc, problems = fmt.parse(data)
        if not problems:
            problems = await self.problems(doc)
        if problems:
            raise VisorInvalid(problems)
        return await self._service.import_document(actor, fmt.without_version(doc))

    async def save(self, actor: Actor | None, case_id: int, doc: Mapping[str, Any]) -> int:
        """Check and store a record for an existing case (the demo, and tools)."""
        full = {"schema_version": fmt.SCHEMA_VERSION, **doc}
        problems = await self.problems(full)
        if problems:
            raise VisorInvalid(problems)
        return await self._service.save(actor, case_id, fmt.without_version(full))
