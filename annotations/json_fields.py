"""The JSON text fields of the admin's forms, read by the same rules as the API's bodies
and the case files (``modeling.json_text``): what no column could keep, a key given
twice or a nesting that would exhaust the stack is a form error naming it, not a 500."""

from __future__ import annotations

from django import forms
from django.forms.fields import InvalidJSONInput, JSONString

from modeling.json_text import JSONTextError, loads_storable


class StorableJSONField(forms.JSONField):
    def to_python(self, value):
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, list | dict | int | float | JSONString):
            return value
        try:
            converted = loads_storable(value)
        except JSONTextError as exc:
            raise forms.ValidationError(f"Enter valid JSON: {exc}.", code="invalid") from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return loads_storable(data)
        except JSONTextError:
            return InvalidJSONInput(data)
