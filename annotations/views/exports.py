from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from annotations.exports import FORMATS, STREAMERS, export_batches
from annotations.selectors.studies import study_get
from annotations.services.audit import audit_record
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def ratings_export(request, slug, fmt):
    if fmt not in FORMATS:
        raise Http404(f"Unknown format {fmt!r}; use csv, jsonl or parquet.")
    study = study_get(slug)
    current_only = request.GET.get("revisions", "current") != "all"
    audit_record(actor=request.user, action="export.ratings", obj=study,
                 summary=f"{fmt}, {'current revisions' if current_only else 'all revisions'}")
    response = StreamingHttpResponse(STREAMERS[fmt](export_batches(study, current_only=current_only)),
                                     content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-ratings-{stamp}.{fmt}"'
    return response
