"""Photo processing: a 4000 x 3000 phone JPEG (with EXIF: GPS, camera, orientation) checked,
turned upright, stripped of its metadata and encoded as a page copy (1600 px) and a
thumbnail (320 px) — what every uploaded photo goes through (``geo.media.photos.process``)."""

from __future__ import annotations

import io
import statistics
import time

import numpy as np
from PIL import ExifTags, Image

from bench.harness import record
from geo.media.photos import process


def phone_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    """A photo-like JPEG (gradients and sensor noise, ~3 MB at quality 90) with EXIF."""
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x / 16) % 256, (y / 12) % 256, ((x + y) / 20) % 256], -1)
    pixels = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype("uint8")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "BenchCam"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (54.0, 52.0, 12.0), 3: "E", 4: (69.0, 9.0, 0.0)}
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def run(ctx) -> list[dict]:
    data = phone_jpeg()
    n = 10 if ctx.quick else 40
    process(data)  # warm: imports, codecs
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        photo = process(data)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
    detail = (
        f"{n} runs of a {len(data) / 2**20:.1f} MB 4000x3000 JPEG -> page "
        f"{photo.page.size[0]}x{photo.page.size[1]} ({len(photo.page.data) // 1024} KB), thumb "
        f"{photo.thumb.size[0]}x{photo.thumb.size[1]}; p50 {statistics.median(times):.0f} ms, "
        f"max {times[-1]:.0f} ms"
    )
    return [
        record(
            "photo_4000x3000_jpeg_p95_ms", p95, "ms", ctx.command, "<= 300 ms", p95 <= 300, detail
        )
    ]
