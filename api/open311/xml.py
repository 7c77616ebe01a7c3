"""An Open311 answer as the spec's JSON or XML, written from its model.

XML follows the model: an element per field in declaration order, a list field an element
holding one element per item (named by the item model's ``xml`` name, or the parent's
``xml_items`` for plain values), ``true``/``false`` for booleans, an empty element for null.
Fields left unset by the builder (an attribute's ``values`` where its datatype has none) are
left out of both formats.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, RootModel

from api.open311.models import Answer, xml_name

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# characters XML 1.0 cannot carry at all (ElementTree would write them and break the document)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _items(parent: ET.Element, items: list, item_tag: str | None) -> None:
    for item in items:
        if isinstance(item, BaseModel):
            _fields(ET.SubElement(parent, xml_name(type(item))), item)
        else:
            ET.SubElement(parent, item_tag or "item").text = _scalar(item)


def _fields(element: ET.Element, model: BaseModel) -> None:
    plain_items = getattr(type(model), "xml_items", {})
    for name in type(model).model_fields:
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        child = ET.SubElement(element, name)
        if isinstance(value, BaseModel):
            _fields(child, value)
        elif isinstance(value, list):
            _items(child, value, plain_items.get(name))
        else:
            child.text = _scalar(value)


def to_xml(answer: Answer) -> bytes:
    """``answer`` as an XML document (UTF-8, with its declaration)."""
    root = ET.Element(xml_name(type(answer)))
    if isinstance(answer, RootModel):
        _items(root, answer.root, None)
    else:
        _fields(root, answer)
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")


def render(fmt: str, answer: Answer, status_code: int = 200, headers: dict | None = None):
    """``answer`` as JSON or XML (``fmt``), with ``status_code``."""
    if fmt == "xml":
        return Response(
            to_xml(answer), status_code=status_code, media_type=MEDIA_TYPES["xml"], headers=headers
        )
    return JSONResponse(
        answer.model_dump(mode="json", exclude_unset=True),
        status_code=status_code,
        media_type=MEDIA_TYPES["json"],
        headers=headers,
    )
