"""Helpers for the reports tests: synthetic images (including hostile ones) and test objects.

Everything made here is test data; nothing here is loaded outside tests.
"""

import io
import struct
import zlib

from django.contrib.auth.models import Permission, User
from PIL import ExifTags, Image

from reports.models import Category

# Inside Kielce and inside an electoral district (the Market Square, Rynek).
RYNEK = (20.6286, 50.8703)
# Outside the city boundary (Warsaw).
WARSAW = (21.0122, 52.2297)

GPS = {1: "N", 2: (50.0, 52.0, 13.0), 3: "E", 4: (20.0, 37.0, 43.0)}


def jpeg(width=640, height=480, colour=(200, 40, 40), gps=True, fmt="JPEG") -> bytes:
    """An image with EXIF holding a camera serial number and (by default) a GPS position."""
    img = Image.new("RGB", (width, height), colour)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.BodySerialNumber] = "SERIAL-12345"
    if gps:
        exif[ExifTags.IFD.GPSInfo] = GPS
    out = io.BytesIO()
    img.save(out, fmt, exif=exif)
    return out.getvalue()


def png(width=320, height=240, colour=(20, 120, 200, 255)) -> bytes:
    img = Image.new("RGBA", (width, height), colour)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def png_bomb(width=50_000, height=50_000) -> bytes:
    """A tiny, valid PNG whose header claims width×height pixels (2.5 gigapixels by default):
    a decompression bomb. Its IDAT expands to the whole first row only, but no decoder must
    ever get that far."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def category(slug="pothole-test", **fields) -> Category:
    defaults = {"name_pl": "Dziura (test)", "name_en": "Pothole (test)",
                "duplicate_radius_m": 50}
    return Category.objects.create(slug=slug, **{**defaults, **fields})


def moderator(username="moderator") -> User:
    user = User.objects.create_user(username, is_staff=True)  # no password: tests force_login
    user.user_permissions.add(Permission.objects.get(codename="moderate_report"))
    return User.objects.get(pk=user.pk)  # fresh: permissions are cached per instance


def purge(category_slugs: list[str], drop_layer: bool) -> None:
    """Remove what a test committed (for the live server to see): the reports of the given
    categories with their photo files, their features in the reports layer and its history,
    the categories, and the layer itself when the test created it."""
    from layers.models import Feature, FeatureHistory, Layer
    from reports import conf
    from reports.models import Photo, Report

    slug = conf.get("REPORTS_LAYER")
    reports = Report.objects.filter(category__slug__in=category_slugs)
    ids = list(reports.values_list("pk", flat=True))
    for photo in Photo.objects.filter(report_id__in=ids):
        photo.file.delete(save=False)
    features = Feature.objects.filter(layer__slug=slug, properties__report_id__in=ids)
    feature_ids = list(features.values_list("pk", flat=True))
    features.delete()
    FeatureHistory.objects.filter(layer__slug=slug, feature_id__in=feature_ids).delete()
    reports.delete()
    Category.objects.filter(slug__in=category_slugs).delete()
    if drop_layer:
        Layer.objects.filter(slug=slug).delete()
