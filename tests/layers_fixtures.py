"""Users, groups and layers for the layer tests (import with `from tests.layers_fixtures import *`).

Roles: anonymous, a plain user (authenticated, no rights), an editor (in the editor group of the
test layers, not staff), staff (reads staff-only layers, edits nothing), a superuser.
"""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.gis.geos import Point
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from layers import editing
from layers.models import Layer

SCHEMA = {"fields": [
    {"name": "name", "type": "string", "required": True},
    {"name": "count", "type": "integer"},
    {"name": "kind", "type": "string", "choices": ["library", "school"]},
    {"name": "open", "type": "boolean"},
    {"name": "since", "type": "date"},
    {"name": "area", "type": "decimal"},
]}


def make_user(username, *, staff=False, superuser=False, groups=()):
    # No password: hashing one costs a third of a second, and tests log in with force_login.
    user = User.objects.create_user(username, f"{username}@example.org", None,
                                    is_staff=staff or superuser, is_superuser=superuser)
    for group in groups:
        user.groups.add(group)
    return user


@pytest.fixture
def editors(db):
    return Group.objects.create(name="test-editors")


@pytest.fixture
def users(db, editors):
    return {
        "anonymous": None,
        "user": make_user("plain"),
        "editor": make_user("editor", groups=[editors]),
        "staff": make_user("staffer", staff=True),
        "superuser": make_user("root", superuser=True),
    }


@pytest.fixture
def registrar(db):
    """A GIS administrator: may create, delete and restore layers (model permissions)."""
    user = make_user("registrar", staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="layers", codename__in=["add_layer", "change_layer",
                                                        "delete_layer"]))
    return user


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def make_layer(slug, editors_group=None, visibility="public", geometry_type="Point",
               schema=None, n=3):
    layer = Layer.objects.create(slug=slug, title_pl=f"Warstwa {slug}", title_en=f"Layer {slug}",
                                 geometry_type=geometry_type, visibility=visibility,
                                 schema=schema or SCHEMA, licence="CC BY 4.0",
                                 attribution="Źródło: testy", publisher="Test")
    if editors_group is not None:
        layer.editor_groups.add(editors_group)
    for i in range(n):
        editing.create_feature(layer, Point(20.6 + i / 100, 50.85, srid=4326),
                               {"name": f"Punkt {i}", "count": i, "kind": "library"},
                               channel="test")
    layer.refresh_from_db()
    return layer


@pytest.fixture
def layer(db, editors):
    return make_layer("test-points", editors)


@pytest.fixture
def staff_layer(db, editors):
    return make_layer("test-hidden", editors, visibility="staff")


def admin_form(layer, props: dict, geom: str) -> dict:
    """POST data of the admin feature form: the geometry and one field per schema attribute."""
    data = {"geom": geom}
    for i, spec in enumerate(layer.fields):
        value = props.get(spec["name"])
        if isinstance(value, bool):
            value = "true" if value else "false"
        data[f"attr_{i}"] = "" if value is None else value
    return data
