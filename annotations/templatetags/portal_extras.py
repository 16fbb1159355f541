from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


# The rating page prints a few hundred radio buttons; built here in one pass they cost a
# fraction of what the same markup costs as nested template loops (the page is the
# hottest one in the portal).

def _checked(option: dict) -> str:
    return " checked" if option["checked"] else ""


@register.simple_tag
def likert_options(entry: dict):
    name = escape(entry["name"])
    html = []
    for p in entry["points"]:
        value, anchor = escape(p["value"]), escape(p["anchor"])
        html.append(f'<label class="opt" title="{value}: {anchor}"><input type="radio" name="{name}" '
                    f'value="{value}" data-anchor="{anchor}"{_checked(p)}><span class="num">{value}</span></label>')
    return mark_safe("".join(html))  # every interpolated value is escaped above


@register.simple_tag
def choice_options(entry: dict):
    name = escape(entry["name"])
    return mark_safe("".join(  # every interpolated value is escaped
        f'<label class="opt wide"><input type="radio" name="{name}" value="{escape(c["value"])}"{_checked(c)}>'
        f'<span class="num">{c["number"]}</span> {escape(c["label"])}</label>' for c in entry["choices"]))


@register.simple_tag
def rank_options(row: dict):
    name = escape(row["rank_name"])
    return mark_safe("".join(  # every interpolated value is escaped
        f'<label class="opt"><input type="radio" name="{name}" value="{escape(r["value"])}"{_checked(r)}>'
        f'<span class="num">{escape(r["value"])}</span></label>' for r in row["ranks"]))
