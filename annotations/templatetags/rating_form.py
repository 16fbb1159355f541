"""Template tags of the rating form: the markup that repeats for every response and
rubric dimension, built in one pass by :mod:`annotations.rating_markup`."""

from django import template

from annotations import rating_markup

register = template.Library()

register.simple_tag(rating_markup.rating_dimension, name="rating_dimension")
register.simple_tag(rating_markup.rank_options, name="rank_options")


@register.filter
def is_invalid(errors: dict, name: str) -> bool:
    """Whether the refused submission has an error for field ``name``."""
    return bool(errors.get(name))
