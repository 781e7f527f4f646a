"""Template filters for money and points (`{{ amount|money }}`): billing.formats, registered."""

from django import template

from billing import formats

register = template.Library()

register.filter("money", formats.money)
register.filter("points", formats.points)
register.filter("unit_price", formats.unit_price)
