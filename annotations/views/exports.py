from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from annotations.exports import FORMATS, export_stream
from annotations.selectors.studies import study_get
from annotations.services.audit import audit_record
from evalportal.roles import ADMIN, RESEARCHER, role_required


def _export(request, slug, fmt, rows):
    if fmt not in FORMATS:
        raise Http404(f"Unknown format {fmt!r}; use csv, jsonl or parquet.")
    study = study_get(slug)
    current_only = request.GET.get("revisions", "current") != "all"
    audit_record(actor=request.user, action=f"export.{rows}", obj=study,
                 summary=f"{fmt}, {'current revisions' if current_only else 'all revisions'}")
    response = StreamingHttpResponse(export_stream(study, rows=rows, fmt=fmt, current_only=current_only),
                                     content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-{rows}-{stamp}.{fmt}"'
    return response


@role_required(RESEARCHER, ADMIN)
def ratings_export(request, slug, fmt):
    """One row per response x dimension of each submission."""
    return _export(request, slug, fmt, "ratings")


@role_required(RESEARCHER, ADMIN)
def rankings_export(request, slug, fmt):
    """One row per response of each submission, with the rank it was given."""
    return _export(request, slug, fmt, "rankings")
