"""Case import: all or nothing, idempotent, every problem named by line and field."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from annotations.models import Case, Study
from annotations.services.audit import audit_record
from modeling.cases import CaseError, CaseFileError, case_fingerprint, parse_case_lines

CASE_FIELDS = ("task", "category", "specialty", "split", "turns", "tables", "images", "question",
               "gold_behavior", "label_space", "gold_label", "reference_response", "metadata")


@dataclass(frozen=True)
class CaseImportResult:
    created: int
    unchanged: int

    @property
    def message(self) -> str:
        if self.created == 0:
            return f"Nothing changed: all {self.unchanged} cases were already imported."
        tail = f"; {self.unchanged} already imported, left as they were" if self.unchanged else ""
        return f"Imported {self.created} new cases{tail}."


def case_import(*, study: Study, data: bytes, actor=None, source_name: str = "") -> CaseImportResult:
    """Import a JSON Lines case file into a study.

    Raises CaseFileError (nothing written) when any line is bad or a case id already in
    the study has different content.
    """
    parsed = parse_case_lines(data, registry=study.task_registry())
    with transaction.atomic():
        # Lock the study row so two concurrent imports cannot both create the same ids.
        Study.objects.select_for_update().get(pk=study.pk)
        existing = dict(
            Case.objects.filter(study=study, external_id__in=[c["external_id"] for _, c in parsed])
            .values_list("external_id", "content_hash")
        )
        errors: list[CaseError] = []
        new_cases: list[Case] = []
        for line, case in parsed:
            fingerprint = case_fingerprint(case)
            known = existing.get(case["external_id"])
            if known is None:
                new_cases.append(_case_from_dict(study, case, fingerprint))
            elif known != fingerprint:
                errors.append(CaseError(line, "external_id",
                                        f"{case['external_id']!r} is already in study {study.slug!r} with "
                                        "different content; give the changed case a new external_id"))
        if errors:
            raise CaseFileError(errors)
        Case.objects.bulk_create(new_cases, batch_size=1000)
        result = CaseImportResult(created=len(new_cases), unchanged=len(parsed) - len(new_cases))
        audit_record(actor=actor, action="cases.import", obj=study,
                     summary=f"{source_name or 'upload'}: {result.message}",
                     after={"created": result.created, "unchanged": result.unchanged, "source": source_name})
    return result


def _case_from_dict(study: Study, case: dict, fingerprint: str) -> Case:
    values = {name: case.get(name) for name in CASE_FIELDS if name in case}
    values.setdefault("tables", [])
    values.setdefault("images", [])
    values.setdefault("metadata", {})
    values["specialty"] = values.get("specialty") or ""
    values["reference_response"] = values.get("reference_response") or ""
    return Case(study=study, external_id=case["external_id"], content_hash=fingerprint, **values)


__all__ = ["CaseFileError", "CaseImportResult", "case_import"]
