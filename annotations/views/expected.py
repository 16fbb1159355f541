"""Where the research team marks practice and gold cases and their expected answers."""

from django.contrib import messages
from django.shortcuts import redirect, render

from annotations.errors import DomainError
from annotations.models import Case
from annotations.selectors.studies import case_expected_form, study_get
from annotations.services.expected import case_set_expected
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def case_expected(request, slug, case_id):
    study = study_get(slug)
    status = 200
    if request.method == "POST":
        try:
            case = case_set_expected(study=study, case_id=case_id, role=request.POST.get("role", ""),
                                     data=request.POST, actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))
            status = exc.status
        else:
            messages.success(request, f"{case.external_id} is now a {case.get_role_display().lower()}.")
            return redirect("case-expected", slug=slug, case_id=case.pk)
    return render(request, "annotations/case_expected.html", {
        "study": study, "form": case_expected_form(study, case_id), "roles": Case.Role.choices}, status=status)
