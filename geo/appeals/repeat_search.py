"""Each appeal's best earlier candidate by the live repeat rule, for a whole city at once.

The rule is that of ``qala_repeat_candidates`` (migration 0005), applied to each appeal as of
its own ``created_at``: among the earlier appeals of its category that are not rejected or
duplicates and were made within the category's window before it, those on the same map object
(``object_kind``, ``object_id``) or within the category's radius (geography metres); the same
object first, then the nearest (the geography distance rounded to 0.1 m), then the earliest
(``created_at``, then ``id``). A placeholder geocode (a default point such as a city hall) is
never a neighbour within the radius. :mod:`geo.appeals.bulk` reads the appeals, settles the
few appeals this module leaves open, and writes the links.

The search is vectorised. Appeals are ranked by (``created_at``, ``id``). Per category, the
candidates are sorted by (bucket, rank), the buckets a grid of longitude and latitude whose
cells are at least the radius wide on the ground: the earlier candidates within the window in
one bucket are then one slice, found by :func:`numpy.searchsorted`, and the 3 x 3 buckets
around an appeal hold every point within the radius. The same for the map objects, sorted by
(object, rank). The slices are expanded to pairs in chunks of :data:`CHUNK`, and each appeal
keeps its best pair as one int64 key.

Distances on the ellipsoid without PostGIS
------------------------------------------
PostGIS measures geography distances on the WGS 84 ellipsoid (GeographicLib's geodesic, to the
nanometre, then rounded to 10 nm). Here a pair's distance is the mid-latitude formula with the
radii of curvature averaged over its two ends (:func:`_metres`). Its error grows as the cube of
the distance: checked against GeographicLib (latitudes 0-85 degrees, distances to 100 km), it
stays below 5 % of the tolerance :data:`EPS0` + ``d**3 / (b**2 cos(lat)**2)`` (b the polar
radius, lat the category's largest latitude). At 500 m in the demo city (55 degrees north) the
tolerance is 1e-5 m, and the largest difference from PostGIS's own distances over 100,000 of
its pairs was 1.5e-7 m. The tolerance also covers PostGIS's 10 nm rounding and the 15
significant digits of its cast to numeric.

A pair is *uncertain* when the tolerance decides something: its distance within it of the
radius (in or out?) or of a rounding boundary (0.05 m, 0.15 m, ...: which tenth?). Otherwise
the order of the keys is exact: an appeal whose best pair is certain is decided, since every
other pair's key is above that pair's, whatever the tolerance. One whose best pair is
uncertain (47 of 2.3 million in the demo city) is *ambiguous*: :func:`deciding_pairs` gives
every pair whose lowest possible key is below the highest key of a pair certainly eligible,
and PostGIS measures those as the live function does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: WGS 84, as PostGIS's geography (SRID 4326)
A = 6378137.0
F = 1 / 298.257223563
E2 = F * (2 - F)
B = A * (1 - F)
#: metres: the tolerance of a short distance (see the module's docstring)
EPS0 = 1e-6
#: a bucket's side over the radius: the formula's first-order neighbourhood test is exact to
#: a few millionths at these distances
SLACK = 1.001
#: pairs expanded at once: a dozen arrays of this length stay in the processor's cache
CHUNK = 1 << 18
#: the key: same object (0) or not (1) in bit 62, tenths of a metre from bit 34, the
#: candidate's rank from bit 1, and bit 0 set when the pair is uncertain
_Q_SHIFT = np.int64(34)
_RANK = np.int64((1 << 33) - 1)
NONE = np.iinfo(np.int64).max


@dataclass
class CityAppeals:
    """A city's appeals in the order of (``created_at``, ``id``): an appeal's rank is its index.

    ``t`` and ``since`` are microseconds (``since``: ``created_at`` minus the category's window,
    as PostgreSQL subtracts the interval); ``cat`` indexes the categories; ``obj`` numbers the
    map object (-1: none); ``link`` is ``repeat_of_id`` (-1: unlinked); ``lon``, ``lat`` are
    degrees.
    """

    id: np.ndarray
    cat: np.ndarray
    t: np.ndarray
    since: np.ndarray
    obj: np.ndarray
    placeholder: np.ndarray
    counts: np.ndarray
    link: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def sorted(self) -> CityAppeals:
        """The same appeals in the order of (``t``, ``id``)."""
        order = np.lexsort((self.id, self.t))
        return CityAppeals(**{k: v[order] for k, v in vars(self).items()})


@dataclass
class _Points:
    """Appeals of one category in some order: rank, radians, half the radii of curvature."""

    rank: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    hm: np.ndarray  # half the meridian's radius of curvature
    hp: np.ndarray  # half the parallel's radius (N cos lat)

    def take(self, idx: np.ndarray) -> _Points:
        return _Points(*(v[idx] for v in vars(self).values()))


def _points(ap: CityAppeals, idx: np.ndarray, wrap: bool) -> _Points:
    phi = np.radians(ap.lat[idx])
    s = np.sin(phi)
    w2 = 1 - E2 * s * s
    w = np.sqrt(w2)
    lon = np.radians(ap.lon[idx])
    if wrap:  # a city across the antimeridian: longitudes on one side of it
        lon = np.where(lon < 0, lon + 2 * np.pi, lon)
    return _Points(idx, phi, lon, 0.5 * A * (1 - E2) / (w2 * w), 0.5 * A * np.cos(phi) / w)


def _metres(p: _Points, i: np.ndarray, c: _Points, j: np.ndarray, dphi, dlam) -> np.ndarray:
    """The distance of probe ``i`` to candidate ``j`` (their differences of latitude and
    longitude given): the mid-latitude formula, radii averaged over the two ends, the
    parallel's radius corrected for the middle latitude to the second order."""
    dn = dphi * (p.hm[i] + c.hm[j])
    de = dlam * (p.hp[i] + c.hp[j]) * (1 + 0.125 * dphi * dphi)
    return np.sqrt(dn * dn + de * de)


@dataclass
class _Pairs:
    """Candidate pairs of one chunk: probe ``a`` may repeat earlier appeal ``b`` (ranks)."""

    a: np.ndarray
    b: np.ndarray
    notsame: int  # 0: on the same object, 1: within the radius
    lo: np.ndarray  # key with the lowest distance the tolerance allows, bit 0: uncertain
    hi: np.ndarray  # with the highest; NONE when the pair may be beyond the radius


def _pairs(a, b, d, eps_k, notsame: int, radius: float | None) -> _Pairs:
    eps = EPS0 + eps_k * d * d * d
    if radius is not None:
        keep = d - eps <= radius
        a, b, d, eps = a[keep], b[keep], d[keep], eps[keep]
        maybe = d + eps >= radius  # DWithin is ``distance <= radius``: undecided here
    else:
        maybe = np.zeros(len(d), dtype=bool)
    q_lo = np.floor(np.maximum(d - eps, 0.0) * 10 + 0.5).astype(np.int64)
    q_hi = np.floor((d + eps) * 10 + 0.5).astype(np.int64)
    base = (np.int64(notsame) << np.int64(62)) | (b << np.int64(1))
    lo = base | (q_lo << _Q_SHIFT) | (maybe | (q_lo != q_hi))
    hi = np.where(maybe, NONE, base | (q_hi << _Q_SHIFT))
    return _Pairs(a, b, notsame, lo, hi)


def _slices(keys, groups, first, last, n1):
    """For each probe (row) and group (column of ``groups``): the slice of the sorted
    candidate ``keys`` (group * n1 + rank) with ranks in [first, last)."""
    starts = np.searchsorted(keys, groups * n1 + first[:, None])
    ends = np.searchsorted(keys, groups * n1 + last[:, None])
    return starts.ravel(), ends.ravel()


def _expand(starts, ends, owners) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The pairs of the slices, chunk by chunk: (owner of each pair, position in the sorted
    candidates). An owner's slices are consecutive; an owner may span two chunks."""
    lens = ends - starts
    nz = lens > 0
    starts, lens, owners = starts[nz], lens[nz], owners[nz]
    if len(lens) == 0:
        return
    cum = np.cumsum(lens)
    bounds = np.searchsorted(cum, np.arange(CHUNK, cum[-1], CHUNK), side="right")
    for i0, i1 in zip(np.r_[0, bounds], np.r_[bounds, len(lens)], strict=True):
        if i1 <= i0:
            continue
        ln = lens[i0:i1]
        offset = np.cumsum(ln) - ln
        pos = np.repeat(starts[i0:i1] - offset, ln) + np.arange(int(offset[-1] + ln[-1]))
        yield np.repeat(owners[i0:i1], ln), pos


def _eps_k(pts: _Points) -> float:
    """The tolerance's growth: d**3 times this (see the module's docstring)."""
    c = np.cos(np.abs(pts.lat).max())
    return 1.0 / (B * B * max(c * c, 1e-12))


def _chunks(ap: CityAppeals, probe: np.ndarray, radius_m, within_radius) -> Iterator[_Pairs]:
    """Every candidate pair of the probes (a boolean mask over ranks), chunk by chunk."""
    n = len(ap.id)
    n1 = np.int64(n + 1)
    rank = np.arange(n, dtype=np.int64)
    first = np.searchsorted(ap.t, ap.since, side="left").astype(np.int64)
    wrap = bool(len(ap.lon)) and np.ptp(ap.lon) > 180
    for c in np.unique(ap.cat):
        members = rank[ap.cat == c]
        pts = _points(ap, members, wrap)
        eps_k = _eps_k(pts)
        if within_radius:
            yield from _within_radius(ap, probe, pts, float(radius_m[c]), first, n1, eps_k)
        # on the same object: the probe may be a placeholder, the candidate too
        on = ap.obj[members] >= 0
        cand = members[on & ap.counts[members]]
        probes = members[on & probe[members]]
        if len(cand) == 0 or len(probes) == 0:
            continue
        okey = ap.obj[cand] * n1 + cand
        order = np.argsort(okey, kind="stable")
        okey, cand = okey[order], cand[order]
        cp = _points(ap, cand, wrap)
        pp = _points(ap, probes, wrap)
        starts, ends = _slices(okey, ap.obj[probes][:, None], first[probes], probes, n1)
        for i, j in _expand(starts, ends, np.arange(len(probes))):
            d = _metres(pp, i, cp, j, cp.lat[j] - pp.lat[i], cp.lon[j] - pp.lon[i])
            yield _pairs(probes[i], cand[j], d, eps_k, 0, None)


def _within_radius(ap, probe, pts: _Points, r: float, first, n1, eps_k) -> Iterator[_Pairs]:
    """The pairs within the radius: neither is a placeholder, the candidate counts."""
    ok = ~ap.placeholder[pts.rank]
    cand_ok = ok & ap.counts[pts.rank]
    probe_ok = ok & probe[pts.rank]
    if not cand_ok.any() or not probe_ok.any():
        return
    # cells at least ``r`` wide on the ground everywhere in the city: the latitude's where
    # the meridian's radius is least, the longitude's where the parallel's is
    hm_min, hp_min = pts.hm.min(), pts.hp.min()
    wphi, wlam = SLACK * r / (2 * hm_min), SLACK * r / (2 * hp_min)
    gy = np.floor(pts.lat / wphi).astype(np.int64)
    gx = np.floor(pts.lon / wlam).astype(np.int64)
    ny = np.int64(gy.max() - gy.min() + 3)
    cell = (gx - gx.min() + 1) * ny + (gy - gy.min() + 1)
    key = cell * n1 + pts.rank
    order = np.argsort(key)
    key, cell, cand_ok, probe_ok = key[order], cell[order], cand_ok[order], probe_ok[order]
    pts = pts.take(order)
    cp, ckey = pts.take(np.flatnonzero(cand_ok)), key[cand_ok]
    pi = np.flatnonzero(probe_ok)
    pp, pcell = pts.take(pi), cell[pi]
    around = np.array([dx * ny + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)
    starts, ends = _slices(ckey, pcell[:, None] + around, first[pp.rank], pp.rank, n1)
    owners = np.repeat(np.arange(len(pi)), len(around))
    # a first test with the largest radii of the category (a bound of every pair's): then
    # the distance itself for the pairs that pass
    sm, sp = pts.hm.max() ** 2, pts.hp.max() ** 2
    bound = (SLACK * r / 2) ** 2 * max(sm / hm_min**2, sp / hp_min**2)
    for i, j in _expand(starts, ends, owners):
        dphi = cp.lat[j] - pp.lat[i]
        dlam = cp.lon[j] - pp.lon[i]
        near = np.flatnonzero(dphi * dphi * sm + dlam * dlam * sp <= bound)
        i, j, dphi, dlam = i[near], j[near], dphi[near], dlam[near]
        d = _metres(pp, i, cp, j, dphi, dlam)
        yield _pairs(pp.rank[i], cp.rank[j], d, eps_k, 1, r)


def best_candidates(
    ap: CityAppeals, radius_m: np.ndarray, within_radius: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Each unlinked appeal's best candidate by the live rule.

    Parameters
    ----------
    ap : the city's appeals, in the order of :meth:`CityAppeals.sorted`.
    radius_m : the radius of each category (indexed by ``ap.cat``).
    within_radius : False: candidates on the same object only.

    Returns
    -------
    parent : the rank of each appeal's best candidate, -1 for none (and for appeals already
        linked).
    ambiguous : appeals whose best candidate the tolerance of the distances leaves open (their
        ``parent`` is a guess): see :func:`deciding_pairs`.
    """
    best = np.full(len(ap.id), NONE, dtype=np.int64)
    for p in _chunks(ap, ap.link < 0, radius_m, within_radius):
        if len(p.a) == 0:
            continue
        head = np.flatnonzero(np.r_[True, p.a[1:] != p.a[:-1]])
        owners = p.a[head]
        best[owners] = np.minimum(best[owners], np.minimum.reduceat(p.lo, head))
    found = best != NONE
    parent = np.where(found, (best >> np.int64(1)) & _RANK, -1)
    ambiguous = found & ((best & np.int64(1)) == 1)
    return parent, ambiguous


def deciding_pairs(
    ap: CityAppeals, radius_m: np.ndarray, within_radius: bool, probe: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs that may win each ``probe`` appeal (a boolean mask over ranks): those whose
    lowest possible key is below the highest key of a pair certainly eligible. Returns
    ``(a, b, notsame)``: ranks, and 1 for a pair within the radius, 0 on the same object."""
    parts = [p for p in _chunks(ap, probe, radius_m, within_radius) if len(p.a)]
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    a = np.concatenate([p.a for p in parts])
    b = np.concatenate([p.b for p in parts])
    notsame = np.concatenate([np.full(len(p.a), p.notsame, dtype=np.int64) for p in parts])
    lo = np.concatenate([p.lo for p in parts])
    bound = np.full(len(ap.id), NONE, dtype=np.int64)
    np.minimum.at(bound, a, np.concatenate([p.hi for p in parts]))
    keep = lo <= bound[a]
    return a[keep], b[keep], notsame[keep]


def roots(ap: CityAppeals, parent: np.ndarray) -> np.ndarray:
    """The id each appeal with a ``parent`` links to: the root of its parent's chain, as live
    (``coalesce(repeat_of_id, id)`` of the candidate): a parent linked in this same pass
    passes on its own root (pointer jumping down the chains)."""
    up = np.where(parent >= 0, parent, np.arange(len(ap.id)))
    while True:
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    return np.where(ap.link[up] >= 0, ap.link[up], ap.id[up])
