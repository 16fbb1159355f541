"""Template tags of the rating form: the markup that repeats for every response and
rubric dimension, built in one pass by :mod:`annotations.rating_markup`."""

from django import template

from annotations import rating_markup

register = template.Library()

register.simple_tag(rating_markup.rating_dimension, name="rating_dimension")
register.simple_tag(rating_markup.rank_options, name="rank_options")
register.simple_tag(rating_markup.better_choice, name="better_choice")
register.simple_tag(rating_markup.responses_intro, name="responses_intro")
register.filter("response_html", rating_markup.response_html)


@register.filter
def is_invalid(errors: dict, name: str) -> bool:
    """Whether the refused submission has an error for field ``name``."""
    return bool(errors.get(name))


@register.filter
def offers_cannot_judge(rows: list[dict]) -> bool:
    """Whether any question of the form offers "Cannot judge" (the keys hint names its key)."""
    return any(entry.get("cannot_judge") for entry in (rows[0]["dims"] if rows else []))
