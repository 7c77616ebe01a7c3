"""A photo received: checked by its content, its metadata removed, resized.

Whatever a resident's phone or an Open311 client sends, what is kept and served is made
here, and only from the decoded pixels:

* the bytes are read as an image by what they are (Pillow identifies JPEG, PNG, WebP and,
  with ``pillow-heif``, HEIC/HEIF by their content); a name or a declared type is never
  believed. Anything else is refused (:class:`~geo.infra.errors.UnsupportedMedia`, 415);
* a file larger than ``max_bytes`` is refused (:class:`~geo.infra.errors.TooLarge`, 413), and
  so is a picture of more than ``max_pixels`` pixels (a decompression bomb: a small file
  that would decode into gigabytes) — from its header, before a pixel is decoded;
* the EXIF orientation is applied to the pixels (``ImageOps.exif_transpose``), then two
  copies are encoded as new JPEGs, without EXIF (GPS, camera, times), XMP, ICC profiles or
  comments: a page copy (at most 1600 px on its longer side) and a thumbnail (320 px);
* a GPS position in the photo's EXIF is read once, to offer it as the appeal's location
  (:attr:`Photo.gps`); it is never stored.

>>> import io
>>> from PIL import Image
>>> raw = io.BytesIO(); Image.new("RGB", (2000, 1000), "red").save(raw, "JPEG")
>>> photo = process(raw.getvalue())
>>> (photo.width, photo.height), photo.page.size, photo.thumb.size
((2000, 1000), (1600, 800), (320, 160))
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from geo.infra.errors import InvalidInput, TooLarge, UnsupportedMedia

try:  # HEIC/HEIF (iPhones) through Pillow, when the maintained plugin is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency; wheels may lack a platform
    HEIC = False

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 50 MP phone photo passes; a bomb of 20000 x 20000 does not
PAGE_PX = 1600
THUMB_PX = 320
#: the formats read (Pillow's names): what the content says, never the file's name
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF") if HEIC else ("JPEG", "PNG", "WEBP")
ACCEPTED = "JPEG, PNG, WebP" + (" or HEIC" if HEIC else "")


@dataclass(frozen=True)
class Copy:
    """One encoded copy: its bytes (a JPEG without metadata), its content hash (the store's
    key) and its size in pixels."""

    data: bytes
    key: str
    size: tuple[int, int]
    image: Image.Image = field(repr=False, compare=False)


@dataclass(frozen=True)
class Photo:
    """A photo made safe to keep: the page copy, the thumbnail, the oriented size of the
    original, the SHA-256 of the bytes received, and the GPS position it carried (lon, lat),
    to offer as the location and never to keep."""

    source_hash: str
    width: int
    height: int
    page: Copy
    thumb: Copy
    gps: tuple[float, float] | None


def _copy(image: Image.Image, longest: int, quality: int) -> Copy:
    scale = min(longest / max(image.size), 1.0)
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    img = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
    # a new JPEG from the pixels only: Pillow would carry a comment, an ICC profile or EXIF
    # over from ``info``, so it is emptied (the pixels are already turned upright)
    img.info = {}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    data = out.getvalue()
    return Copy(data, hashlib.sha256(data).hexdigest(), img.size, img)


def _degrees(value, ref) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60 + s / 3600
    return -deg if str(ref).upper() in ("S", "W") else deg


def gps_of(exif: Image.Exif) -> tuple[float, float] | None:
    """The (lon, lat) in a photo's EXIF GPS block, ``None`` without a usable one.

    Parameters
    ----------
    exif
        The EXIF of an opened image (``image.getexif()``).
    """
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except (KeyError, ValueError, TypeError):
        return None
    if not gps:
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef, "N"))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef, "E"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    return round(lon, 6), round(lat, 6)


def process(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    page_px: int = PAGE_PX,
    thumb_px: int = THUMB_PX,
) -> Photo:
    """Check ``data`` is a photo and make its page copy and thumbnail without metadata.

    Parameters
    ----------
    data
        The bytes as received.
    max_bytes, max_pixels
        The largest file and picture accepted.
    page_px, thumb_px
        The longer side of the page copy and of the thumbnail, at most.

    Returns
    -------
    Photo

    Raises
    ------
    TooLarge
        More than ``max_bytes``.
    UnsupportedMedia
        Not a JPEG, PNG, WebP or HEIC image (by its content), or one that cannot be decoded.
    InvalidInput
        More than ``max_pixels`` pixels (a decompression bomb), or empty.
    """
    if not data:
        raise InvalidInput("the photo is empty")
    if len(data) > max_bytes:
        raise TooLarge(
            f"the photo has {len(data)} bytes; at most {max_bytes} ({max_bytes / 2**20:g} MB)"
        )
    with warnings.catch_warnings():
        # Pillow's own bomb check warns, then raises at twice its limit: ours is stricter
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError as exc:
            raise InvalidInput(_too_many_pixels(None, max_pixels)) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedMedia(
                f"the file is not a photo this service reads: send a {ACCEPTED} image"
            ) from exc
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidInput(_too_many_pixels((width, height), max_pixels))
            try:
                if image.format == "JPEG":  # decode at 1/2, 1/4 … where the page copy allows
                    ratio = min(page_px / max(width, height), 1.0)
                    image.draft("RGB", (int(width * ratio) or 1, int(height * ratio) or 1))
                exif = image.getexif()
                gps = gps_of(exif)
                oriented = ImageOps.exif_transpose(image)
                rgb = _flatten(oriented)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise UnsupportedMedia(
                    f"the photo could not be decoded (damaged or truncated {image.format})"
                ) from exc
    orientation = exif.get(ExifTags.Base.Orientation, 1)
    if orientation in (5, 6, 7, 8):  # a quarter turn: the picture's sides swap
        width, height = height, width
    page = _copy(rgb, page_px, 85)
    return Photo(
        source_hash=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        page=page,
        thumb=_copy(page.image, thumb_px, 80),  # from the page copy: the same, far cheaper
        gps=gps,
    )


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency laid on white (a JPEG has none)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, "white")
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _too_many_pixels(size: tuple[int, int] | None, limit: int) -> str:
    said = f" ({size[0]} x {size[1]} = {size[0] * size[1]:,} pixels)" if size else ""
    return (
        f"the picture is too large{said}: at most {limit:,} pixels are accepted "
        "(a file this small decoding into so many pixels is refused as a decompression bomb)"
    )


def gps_position(data: bytes, *, max_bytes: int = MAX_BYTES) -> tuple[float, float] | None:
    """Only the GPS position a photo carries (lon, lat), read from its header without
    decoding the pixels or keeping anything: to offer it as the appeal's location.

    Raises
    ------
    TooLarge, UnsupportedMedia, InvalidInput
        As :func:`process`.
    """
    if not data:
        raise InvalidInput("the photo is empty")
    if len(data) > max_bytes:
        raise TooLarge(f"the photo has {len(data)} bytes; at most {max_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                return gps_of(image.getexif())
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedMedia(
                f"the file is not a photo this service reads: send a {ACCEPTED} image"
            ) from exc
        except Image.DecompressionBombError as exc:
            raise InvalidInput(_too_many_pixels(None, MAX_PIXELS)) from exc
