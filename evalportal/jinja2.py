"""The Jinja2 environment for the rating form, the markup of the portal's hottest page
that grows with its responses and rubric dimensions; rendered with Jinja2 it costs a
fraction of the same template in Django's language. Everything else, the rating page's
layout included, is Django templates. Autoescaping is on (Django's backend sets it), and
the helpers here return safe markup only where every interpolated value is escaped."""

import time

from django.template.defaultfilters import linebreaksbr, slugify
from django.templatetags.static import static
from django.urls import reverse
from jinja2 import ChainableUndefined, Environment

from annotations.rating_markup import rank_options, rating_dimension


def url(name: str, *args) -> str:
    return reverse(name, args=args)


def percent(value: float, total: float) -> int:
    """As Django's widthratio with 100: the share rounded to a whole percent, 0 of nothing."""
    return round(value / total * 100) if total else 0


def environment(**options) -> Environment:
    # A field a case leaves out prints nothing, as in Django's templates, also under
    # DEBUG (make run), where Django's backend would print a debugging placeholder.
    options["undefined"] = ChainableUndefined
    env = Environment(**options)
    env.globals.update(static=static, url=url, percent=percent, unix_time=lambda: int(time.time()),
                       rating_dimension=rating_dimension, rank_options=rank_options)
    env.filters.update(linebreaksbr=linebreaksbr, slugify=slugify)
    return env
