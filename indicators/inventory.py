"""The data inventory: every dataset the city holds (each layer) and every one it knows it
lacks (wanted datasets), with owner, source, update frequency, last update and whether an
update is overdue.

"Last update" is the layer's reference date (`data_date`: the date the data describe), not the
time it was loaded: a 2018 file loaded yesterday is still 2018 data. A dataset is overdue when
its reference date plus its declared update interval lies in the past; with no reference date
or an irregular frequency, overdue is unknown (None) and the reason says why.
"""

import datetime

from django.db.models import Count
from django.utils import timezone

from indicators import access
from indicators.models import WantedDataset
from layers.models import Layer

FREQUENCY_DAYS = {
    "continuous": 31, "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92,
    "semiannual": 183, "annual": 366, "biennial": 731, "irregular": None, "": None,
    "continual": 31, "as needed": None, "not planned": None, "never": None,
}


def due_status(layer: Layer, today: datetime.date) -> dict:
    frequency = (layer.update_frequency or "").strip().lower()
    if frequency not in FREQUENCY_DAYS:
        return {"next_update_due": None, "overdue": None, "overdue_days": None,
                "status": "unknown", "reason": f"unrecognised update frequency {frequency!r}"}
    days = FREQUENCY_DAYS[frequency]
    if days is None:
        return {"next_update_due": None, "overdue": None, "overdue_days": None,
                "status": "unknown", "reason": "no regular update frequency declared"}
    if layer.data_date is None:
        return {"next_update_due": None, "overdue": None, "overdue_days": None,
                "status": "unknown", "reason": "no reference date (data_date) recorded"}
    due = layer.data_date + datetime.timedelta(days=days)
    late = (today - due).days
    return {"next_update_due": due.isoformat(), "overdue": late > 0,
            "overdue_days": max(late, 0), "status": "overdue" if late > 0 else "current",
            "reason": (f"{frequency} data last updated {layer.data_date.isoformat()}; due "
                       f"{due.isoformat()}")}


def inventory(*, include_staff: bool = False, today: datetime.date | None = None) -> dict:
    today = today or timezone.localdate()
    layers = Layer.objects.order_by("slug")
    if not include_staff:
        layers = layers.filter(visibility=Layer.Visibility.PUBLIC)
    counts = dict(layers.annotate(n=Count("features")).values_list("pk", "n"))
    datasets = []
    for la in layers:
        datasets.append({
            "kind": "layer", "slug": la.slug, "title_pl": la.title_pl, "title_en": la.title_en,
            "owner": la.publisher, "source": la.source, "source_url": la.source_url,
            "licence": la.licence, "attribution": la.attribution,
            "update_frequency": la.update_frequency,
            "last_update": la.data_date.isoformat() if la.data_date else None,
            "loaded_at": la.last_updated.isoformat() if la.last_updated else None,
            "features": counts.get(la.pk, 0), "version": la.version, "role": la.role,
            "visibility": la.visibility, "synthetic": la.synthetic,
            **due_status(la, today)})
    hidden = access.hidden_ids(staff=include_staff)
    for w in WantedDataset.objects.prefetch_related("indicators"):
        datasets.append({
            "kind": "wanted", "slug": w.layer_slug or w.code, "code": w.code,
            "title_pl": w.title_pl, "title_en": w.title_en, "owner": w.owner,
            "source": w.where_to_get, "source_url": "", "licence": "", "attribution": "",
            "update_frequency": "", "last_update": None, "loaded_at": None, "features": 0,
            "synthetic": False, "next_update_due": None, "overdue": None,
            "overdue_days": None, "status": "missing",
            "reason": "the city does not hold this dataset",
            "indicators": [i.code for i in w.indicators.all() if i.id not in hidden]})
    summary = {s: sum(1 for d in datasets if d["status"] == s)
               for s in ("current", "overdue", "unknown", "missing")}
    return {"generated_at": timezone.now().isoformat(), "today": today.isoformat(),
            "summary": summary, "datasets": datasets}
