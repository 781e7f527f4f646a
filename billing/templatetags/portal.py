from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`mapping[key]` in a template (labels of codes); the key itself when it has no label."""
    return mapping.get(key, key)


@register.filter
def minutes(delta) -> int:
    """A timedelta in whole minutes (rounded up): how long a lock-out lasts."""
    if not delta:
        return 0
    return -(-int(delta.total_seconds()) // 60)
