"""The study page's form that queues a Hugging Face dataset export."""

from django import forms

from annotations.hf_dataset import repo_id_problem
from annotations.models.dataset_export import DATASET_LICENSES


class DatasetExportForm(forms.Form):
    license = forms.ChoiceField(
        label="Licence", choices=[("", "Choose a licence…"), *DATASET_LICENSES],
        help_text="The licence the dataset is published under (the card's license).")
    repo_id = forms.CharField(
        label="Hub repository", required=False, max_length=200,
        help_text="Optional: push to this Hugging Face dataset repository (org/name), with the worker's HF_TOKEN.")
    public = forms.BooleanField(label="Create the Hub repository public", required=False,
                                help_text="Unticked, a new repository is private.")

    def clean_repo_id(self) -> str:
        repo_id = self.cleaned_data["repo_id"].strip()
        problem = repo_id_problem(repo_id) if repo_id else None
        if problem:
            raise forms.ValidationError(problem)
        return repo_id
