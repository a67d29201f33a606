from django import template

register = template.Library()

STATUS_CLASSES = {"new": "st-new", "confirmed": "st-confirmed", "in_progress": "st-progress",
                  "fixed": "st-fixed", "rejected": "st-rejected"}


@register.filter
def status_class(status: str) -> str:
    return STATUS_CLASSES.get(status, "st-new")
