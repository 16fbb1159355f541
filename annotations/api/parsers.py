"""The API's JSON parser: a request body is read by the same rules as a case file's
line (``modeling.json_text``), so what no column could keep, a key given twice or a
nesting that would exhaust the stack is refused with 400 before any view sees it."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from modeling.json_text import JSONTextError, loads_storable


class StorableJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""  # Django bounds it (DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The JSON body is not UTF-8 text.") from None
        try:
            return loads_storable(text)
        except JSONTextError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
