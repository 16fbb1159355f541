"""The export page's form for preference pairs (DPO): the researcher's rules
(``annotations/analysis/dpo_pairs.py`` ``DpoRules``) and the file format."""

from __future__ import annotations

from django import forms

from annotations.analysis.dpo_pairs import MIN_AGREEMENT_RANGE, MIN_RATERS_RANGE, DpoRules
from annotations.pair_exports import DPO_FORMATS

_FORMAT_LABELS = {"jsonl": "JSON Lines", "parquet": "Parquet"}
_DEFAULTS = DpoRules()
_HARM_CHOICES = [("true", "Leave them out unless every flag on them was adjudicated not harmful"),
                 ("false", "Keep them")]


class DpoPairsForm(forms.Form):
    """Read from the query string (the keys the API takes too): a rule left out takes its
    default."""

    min_raters = forms.IntegerField(
        required=False, min_value=MIN_RATERS_RANGE[0], max_value=MIN_RATERS_RANGE[1], initial=_DEFAULTS.min_raters,
        label="Raters who compared the pair, at least",
        help_text=f"{MIN_RATERS_RANGE[0]} to {MIN_RATERS_RANGE[1]}.")
    min_agreement = forms.FloatField(
        required=False, min_value=MIN_AGREEMENT_RANGE[0], max_value=MIN_AGREEMENT_RANGE[1],
        initial=_DEFAULTS.min_agreement, label="Agreement, at least",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="The share of those raters who preferred the chosen response (a tie counts against it), "
                  "0.5 to 1; always more than half.")
    exclude_harm_flagged = forms.ChoiceField(required=False, choices=_HARM_CHOICES, initial="true",
                                             label="Responses flagged as potentially harmful")
    format = forms.ChoiceField(choices=[(fmt, _FORMAT_LABELS[fmt]) for fmt in DPO_FORMATS], initial="jsonl", label="Format")  # noqa: A003 - the query's key

    def clean_min_raters(self):
        value = self.cleaned_data["min_raters"]
        return _DEFAULTS.min_raters if value is None else value

    def clean_min_agreement(self):
        value = self.cleaned_data["min_agreement"]
        return _DEFAULTS.min_agreement if value is None else value

    def rules(self) -> DpoRules:
        data = self.cleaned_data
        return DpoRules(min_raters=data["min_raters"], min_agreement=data["min_agreement"],
                        exclude_harm_flagged=data["exclude_harm_flagged"] != "false")
