"""A category's extra questions: their declaration and the validation of answers.

A question is {"name", "label_pl", "label_en", "type", "required", "choices"}; `type` is one of
text, number, boolean, choice, and `choices` (for choice) is a list of {"key", "label_pl",
"label_en"}. Answers are {name: value}; the same rules serve the web form and Open311.
"""

import re

from django.utils.translation import gettext as _

from sdi.language import lang

TYPES = ("text", "number", "boolean", "choice")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TEXT = 500
TRUE = {"true", "1", "yes", "on", "tak"}
FALSE = {"false", "0", "no", "off", "nie", ""}


def validate_questions(questions) -> list[str]:
    if not isinstance(questions, list):
        return ["questions must be a list"]
    errors, seen = [], set()
    for i, q in enumerate(questions, start=1):
        if not isinstance(q, dict):
            errors.append(f"question {i}: must be an object")
            continue
        name = q.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            errors.append(f"question {i}: name must be lower-case letters, digits and _ "
                          "(starting with a letter, at most 40)")
            continue
        if name in seen:
            errors.append(f"question {name!r}: declared twice")
        seen.add(name)
        if not q.get("label_pl"):
            errors.append(f"question {name!r}: label_pl is required")
        if q.get("type") not in TYPES:
            errors.append(f"question {name!r}: type must be one of {', '.join(TYPES)}")
        if q.get("type") == "choice":
            choices = q.get("choices")
            if not isinstance(choices, list) or not choices or not all(
                    isinstance(c, dict) and c.get("key") for c in choices):
                errors.append(f"question {name!r}: choice needs choices [{{key, label_pl}}]")
    return errors


def label(item: dict) -> str:
    return item.get(f"label_{lang()}") or item.get("label_pl") or str(item.get("key", ""))


def clean_answers(questions: list[dict], raw: dict) -> tuple[dict, dict[str, str]]:
    """Answers typed by question; (answers, {name: error}). Unknown names are ignored (a
    client may send answers to another category's questions)."""
    answers, errors = {}, {}
    for q in questions:
        name, qtype = q["name"], q["type"]
        value = raw.get(name)
        value = value.strip() if isinstance(value, str) else value
        if value is None or value == "":
            if q.get("required") and qtype != "boolean":
                errors[name] = _("This answer is required.")
            continue
        if qtype == "text":
            text = str(value)
            if len(text) > MAX_TEXT:
                errors[name] = _("At most %(n)d characters.") % {"n": MAX_TEXT}
            else:
                answers[name] = text
        elif qtype == "number":
            try:
                number = float(str(value).replace(",", "."))
            except ValueError:
                errors[name] = _("Enter a number.")
                continue
            if number != number or number in (float("inf"), float("-inf")):
                errors[name] = _("Enter a number.")
            else:
                answers[name] = int(number) if number.is_integer() else number
        elif qtype == "boolean":
            text = str(value).lower()
            if text in TRUE or value is True:
                answers[name] = True
            elif text in FALSE or value is False:
                answers[name] = False
            else:
                errors[name] = _("Answer yes or no.")
        elif qtype == "choice":
            keys = [str(c["key"]) for c in q["choices"]]
            if str(value) not in keys:
                errors[name] = _("Choose one of: %(keys)s.") % {"keys": ", ".join(keys)}
            else:
                answers[name] = str(value)
    return answers, errors


def displayed(questions: list[dict], answers: dict) -> list[tuple[str, str]]:
    """(question label, answer label) pairs in the questions' order, for pages."""
    rows = []
    for q in questions:
        if q["name"] not in answers:
            continue
        value = answers[q["name"]]
        if q["type"] == "choice":
            value = next((label(c) for c in q["choices"] if str(c["key"]) == str(value)), value)
        elif q["type"] == "boolean":
            value = _("yes") if value else _("no")
        rows.append((label(q), str(value)))
    return rows
