"""Page-form and API fields for a job's parameters, built from the dataclasses of
:mod:`modeling.params`: a default, a bound or a help text is written there once, and the
jobs page and the REST API offer the same parameters with the same limits.

Every field is optional: a value left out takes the default (for a generation job, the
arm's own decoding first). A form field left blank is left out, and so is an API key
not sent.
"""

from __future__ import annotations

from django import forms
from rest_framework import serializers

from annotations.models.bounds import finite_check
from modeling.params import ParamSpec, param_specs


def _label(spec: ParamSpec) -> str:
    return spec.label or spec.name.replace("_", " ").capitalize()


def _limits(spec: ParamSpec) -> dict:
    limits = {}
    if spec.low is not None:
        limits["min_value"] = spec.low
    if spec.high is not None:
        limits["max_value"] = spec.high
    return limits


def param_form_field(spec: ParamSpec, *, inherited: bool = False) -> forms.Field:
    """A form field for ``spec``; with ``inherited`` its default is someone else's (an
    arm's decoding), so the field starts empty rather than showing ours."""
    help_text = spec.help_text.replace("Default: ", "Default: the arm's own, else ") if inherited else spec.help_text
    common = {"required": False, "label": _label(spec), "help_text": help_text}
    initial = None if inherited else spec.default
    if spec.type is bool:
        if spec.optional or inherited:
            return forms.NullBooleanField(**common, widget=forms.Select(choices=[
                ("unknown", "default"), ("true", "yes"), ("false", "no")]))
        return forms.BooleanField(**common, initial=initial)
    if spec.choices:
        return forms.ChoiceField(**common, choices=list(spec.choices), initial=initial)
    if spec.type is int:
        return forms.IntegerField(**common, initial=initial, **_limits(spec))
    if spec.type is float:
        return forms.FloatField(**common, initial=initial, validators=[finite_check], **_limits(spec))
    if spec.type is list:
        return forms.MultipleChoiceField(**common, initial=initial, widget=forms.CheckboxSelectMultiple)
    return forms.CharField(**common, initial=initial, max_length=200)


def param_form_fields(cls, *, inherited: bool = False) -> dict[str, forms.Field]:
    return {spec.name: param_form_field(spec, inherited=inherited) for spec in param_specs(cls)}


def param_form_values(cleaned_data: dict, cls) -> dict:
    """The parameters of ``cls`` a valid form was given (blank ones left out)."""
    return {spec.name: cleaned_data[spec.name] for spec in param_specs(cls)
            if cleaned_data.get(spec.name) not in (None, "", [])}


def param_serializer_field(spec: ParamSpec) -> serializers.Field:
    common = {"required": False, "help_text": spec.help_text}
    if spec.optional:
        common["allow_null"] = True
    if spec.choices:
        return serializers.ChoiceField(choices=list(spec.choices), **common)
    if spec.type is bool:
        return serializers.BooleanField(**common)
    if spec.type is int:
        return serializers.IntegerField(**common, **_limits(spec))
    if spec.type is float:
        return serializers.FloatField(**common, **_limits(spec))
    if spec.type is list:
        return serializers.ListField(child=serializers.CharField(max_length=40), allow_empty=False,
                                     max_length=spec.max_items, **common)
    return serializers.CharField(max_length=200, **common)


def param_serializer_fields(cls) -> dict[str, serializers.Field]:
    return {spec.name: param_serializer_field(spec) for spec in param_specs(cls)}


def param_serializer_values(validated_data: dict, cls) -> dict:
    """The parameters of ``cls`` an API body sent."""
    return {spec.name: validated_data[spec.name] for spec in param_specs(cls) if spec.name in validated_data}
