"""The ``markdown`` filter: a researcher's study text (instructions, consent) as safe HTML."""

from django import template

from annotations.markdown import render_markdown

register = template.Library()
register.filter("markdown", render_markdown)
