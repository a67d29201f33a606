"""The map's search: areas (districts, precincts) and named features of the public map layers
(schools, libraries...), found by every word of the query with case and Polish diacritics
ignored, as in the catalogue ("szkoła" = "szkola").

Only what anyone may see is searched: public, live layers (never staff-only or deleted ones).
Areas are matched in Python over their display names (a few hundred at most); features in
PostGIS on the layer's name field, folded with translate(), which needs no extension.
"""

import json

from django.db import connection

from layers.models import Feature, Layer
from portal import areas as area_lib
from portal.text import fold
from sdi.language import lang, localized

MIN_QUERY, MAX_QUERY = 2, 100
MAX_AREAS, MAX_PER_LAYER, MAX_RESULTS = 8, 8, 20

# Lower-case letters with diacritics and what portal.text.fold makes of them.
_FROM = "ąćęłńóśźżáàâäãåčďéèêëěíìîïňôöõřšťúùûüůýÿçñ"
_TO = "acelnoszzaaaaaacdeeeeeiiiinooorstuuuuuyycn"
assert len(_FROM) == len(_TO)


class QueryError(ValueError):
    pass


def words_of(q: str) -> list[str]:
    q = (q or "").strip()
    if not MIN_QUERY <= len(q) <= MAX_QUERY:
        raise QueryError(f"q must have {MIN_QUERY} to {MAX_QUERY} characters")
    return fold(q).split()


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(q: str) -> list[dict]:
    """Areas first (by name), then features layer by layer; at most MAX_RESULTS."""
    words = words_of(q)
    return (_areas(words) + _features(words))[:MAX_RESULTS]


def _areas(words: list[str]) -> list[dict]:
    found = []
    titles = {la.slug: localized(la, "title") for la in area_lib.areas_layers()}
    for layer_slug, areas in area_lib.all_areas().items():
        for a in areas:
            hay = fold(" ".join((a.name_pl, a.name_en, a.detail)))
            if all(w in hay for w in words):
                found.append((a, layer_slug))
    found.sort(key=lambda t: (not fold(t[0].name(lang())).startswith(words[0]),
                              area_lib._natural(t[0].name(lang()))))
    found = found[:MAX_AREAS]
    points = _points([a.id for a, _ in found])
    return [{"kind": "area", "slug": a.slug, "name": a.name(lang()), "detail": a.detail,
             "layer": layer_slug, "layer_title": titles.get(layer_slug, ""),
             "lat": points[a.id][0], "lon": points[a.id][1]} for a, layer_slug in found]


def _points(ids: list[int]) -> dict[int, tuple[float, float]]:
    if not ids:
        return {}
    with connection.cursor() as cur:
        cur.execute(f"SELECT id, ST_Y(p), ST_X(p) FROM (SELECT id, ST_PointOnSurface(geom) p "
                    f"FROM {Feature._meta.db_table} WHERE id = ANY(%s)) x", [ids])
        return {fid: (round(lat, 6), round(lon, 6)) for fid, lat, lon in cur.fetchall()}


def _features(words: list[str]) -> list[dict]:
    layers = (Layer.objects.filter(visibility=Layer.Visibility.PUBLIC, role=Layer.Role.DATA)
              .exclude(name_field="").order_by("id"))
    found = []
    for layer in layers:
        folded = "translate(lower(properties ->> %s), %s, %s)"
        where = " AND ".join([f"{folded} LIKE %s"] * len(words))
        params = [p for w in words for p in (layer.name_field, _FROM, _TO, _like(w))]
        with connection.cursor() as cur:
            cur.execute(
                f"""SELECT id, properties, ST_Y(p), ST_X(p) FROM (
                      SELECT id, properties, ST_PointOnSurface(geom) p
                      FROM {Feature._meta.db_table}
                      WHERE layer_id = %s AND {where}
                      ORDER BY properties ->> %s, id LIMIT %s) x""",
                [layer.pk, *params, layer.name_field, MAX_PER_LAYER])
            rows = cur.fetchall()
        title = localized(layer, "title")
        rows.sort(key=lambda r: area_lib._natural(str(_props(r[1]).get(layer.name_field, ""))))
        for fid, props, lat, lon in rows:
            props = _props(props)
            found.append({"kind": "feature", "id": fid, "layer": layer.slug,
                          "layer_title": title, "name": str(props.get(layer.name_field, "")),
                          "lat": round(lat, 6), "lon": round(lon, 6), "properties": props})
    return found


def _props(raw) -> dict:
    # Django hands raw jsonb to a plain cursor as text.
    return json.loads(raw) if isinstance(raw, str) else (raw or {})
