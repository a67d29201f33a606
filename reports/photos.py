"""Photos from residents: checked by content, limited in size and pixels, re-encoded.

Nothing a resident uploads is stored as it came: the file's bytes decide what it is (never
its name or declared content type), the pixel count is read from the header and refused before
any decoding (a decompression bomb is never expanded), and the stored file is a fresh JPEG
encoded from the pixels alone. No metadata is stored (EXIF, XMP, ICC, IPTC, JPEG comments, PNG
text); only with the resident's consent is the GPS block kept, as the one EXIF entry.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageDraw, ImageOps, UnidentifiedImageError

# Magic numbers of the accepted formats. Checked before Pillow sees the data, so that no other
# decoder (Pillow knows dozens) is ever run on an upload.
SIGNATURES = {
    "JPEG": lambda b: b.startswith(b"\xff\xd8\xff"),
    "PNG": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "WEBP": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
}
JPEG_QUALITY = 85


class PhotoError(ValueError):
    """Why a file is refused; `code` names the rule (for tests and API clients)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class ProcessedPhoto:
    data: bytes
    width: int
    height: int
    has_location: bool


def sniff(head: bytes) -> str | None:
    return next((fmt for fmt, matches in SIGNATURES.items() if matches(head)), None)


def read_limited(fileobj, max_bytes: int) -> bytes:
    data = fileobj.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PhotoError("too_large", f"the file is larger than {max_bytes // (1024 * 1024)} MB")
    if not data:
        raise PhotoError("empty", "the file is empty")
    return data


def _flatten(img: Image.Image) -> Image.Image:
    """RGB pixels; transparency composed over white (JPEG has no alpha)."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _gps(img: Image.Image) -> dict | None:
    gps = img.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    # A GPS block without latitude and longitude carries no location worth keeping.
    return dict(gps) if gps and 2 in gps and 4 in gps else None


def process(data: bytes, *, max_pixels: int, max_side: int,
            keep_location: bool = False) -> ProcessedPhoto:
    fmt = sniff(data[:16])
    if fmt is None:
        raise PhotoError("not_an_image", "the file is not a JPEG, PNG or WebP image "
                         "(judged by its content, not its name)")
    with warnings.catch_warnings():
        # Pillow warns (and from twice the limit refuses) on huge images; our own, lower limit
        # below decides, and a warning must never slip through as a success.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
            if width * height > max_pixels:
                raise PhotoError("too_many_pixels",
                                 f"the image has {width}×{height} pixels; at most "
                                 f"{max_pixels / 1e6:g} megapixels are accepted")
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animated PNG / WebP: the first frame
            img.load()
        except PhotoError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoError("too_many_pixels", "the image has too many pixels") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise PhotoError("damaged", "the image is damaged or incomplete") from exc

    gps = _gps(img) if keep_location else None
    img = ImageOps.exif_transpose(img)  # keep the picture upright once EXIF is gone
    img = _flatten(img)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return ProcessedPhoto(_encode(img, gps), img.width, img.height, gps is not None)


def _pixels_only(img: Image.Image) -> Image.Image:
    """A new image holding the pixels and nothing else. Pillow carries what it read with an
    image (`info`: the JPEG comment, XMP, ...) into what it saves: a comment segment of the
    upload survived re-encoding until the pixels were moved into an image of their own."""
    clean = Image.new(img.mode, img.size)
    clean.paste(img)
    return clean


def _encode(img: Image.Image, gps: dict | None) -> bytes:
    out = io.BytesIO()
    options = {"quality": JPEG_QUALITY, "optimize": True}
    if gps:
        exif = Image.Exif()
        exif[ExifTags.IFD.GPSInfo] = gps
        options["exif"] = exif
    _pixels_only(img).save(out, "JPEG", **options)
    return out.getvalue()


def redact(data: bytes, box: tuple[int, int, int, int]) -> bytes:
    """The stored JPEG with the rectangle (x, y, width, height), in image pixels, painted
    black. The result replaces the original: nothing of the covered area is kept anywhere."""
    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    img.load()
    gps = _gps(img)
    x, y, w, h = box
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > img.width or y + h > img.height:
        raise PhotoError("bad_box", f"the rectangle must lie within the image "
                         f"({img.width}×{img.height} pixels)")
    img = img.convert("RGB")
    ImageDraw.Draw(img).rectangle((x, y, x + w - 1, y + h - 1), fill="black")
    return _encode(img, gps)
