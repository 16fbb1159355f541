from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from annotations.exports import FORMATS, export_stream
from annotations.pair_exports import DPO_FORMATS, dpo_pairs_stream
from annotations.pair_forms import DpoPairsForm
from annotations.selectors.studies import study_get
from annotations.services.audit import audit_record
from annotations.views.researcher import study_page
from evalportal.roles import ADMIN, RESEARCHER, role_required


def _export(request, slug, fmt, rows):
    if fmt not in FORMATS:
        raise Http404(f"Unknown format {fmt!r}; use csv, jsonl or parquet.")
    study = study_get(slug)
    current_only = request.GET.get("revisions", "current") != "all"
    audit_record(actor=request.user, action=f"export.{rows}", obj=study,
                 summary=f"{fmt}, {'current revisions' if current_only else 'all revisions'}")
    return _download(export_stream(study, rows=rows, fmt=fmt, current_only=current_only), FORMATS[fmt],
                     f"{study.slug}-{rows}", fmt)


def _download(stream, content_type: str, name: str, extension: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{extension}"'
    return response


@role_required(RESEARCHER, ADMIN)
def ratings_export(request, slug, fmt):
    """One row per response x dimension of each submission."""
    return _export(request, slug, fmt, "ratings")


@role_required(RESEARCHER, ADMIN)
def rankings_export(request, slug, fmt):
    """One row per response of each submission, with the rank it was given."""
    return _export(request, slug, fmt, "rankings")


@role_required(RESEARCHER, ADMIN)
def dpo_pairs_export(request, slug):
    """The study's preference pairs for DPO, kept by the rules of the export form (its
    query string); a refused form is shown again on the study page, with status 400."""
    study = study_get(slug)
    form = DpoPairsForm(request.GET)
    if not form.is_valid():
        return study_page(request, study, dpo_pairs_form=form, status=400)
    rules, fmt = form.rules(), form.cleaned_data["format"]
    audit_record(actor=request.user, action="export.dpo_pairs", obj=study,
                 summary=f"{fmt}, at least {rules.min_raters} rater(s), agreement at least {rules.min_agreement}, "
                         f"harm-flagged responses {'left out' if rules.exclude_harm_flagged else 'kept'}")
    return _download(dpo_pairs_stream(study, rules=rules, fmt=fmt), DPO_FORMATS[fmt], f"{study.slug}-dpo-pairs", fmt)
