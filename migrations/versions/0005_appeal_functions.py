"""appeal functions: locate, repeat candidates and registration in the database

The operator's hottest path (an appeal from the phone line, a bot or the website) used to be
four statements sent one by one from Python, each parsed and planned anew. Here the rules
live in three PL/pgSQL functions, whose statements are planned once per connection and run
next to the data:

* ``qala_locate(city, category, lon, lat[, object_kind, object_id])``: the object the point
  snaps to (the category's kind: a well of the category's kind within 50 m, a building within
  40 m, a yard within 30 m or else the yard of that building, a street within 120 m) or the
  object the operator picked; the district; the responsible organisation and how it was
  chosen (the owner of the well, the housing organisation of the building, else the smallest
  service area of the category's kind of body holding the point, else the district akimat).
* ``qala_repeat_candidates(...)``: earlier appeals of the same category on the same object or
  within the category's radius, within its time window, same-object first, then nearest.
* ``qala_create_appeal(...)``: the idempotency key, the city's bounds, the category, locate,
  the registration number from the city's sequence of the year, the repeat link, then the
  appeal, its contacts, its first event(s) and the object's repeat counter; it returns the
  appeal as ``appeal_cards`` shows it. One call, one round trip; an API call in autocommit
  mode is then one transaction.

``appeal_cards`` is the one definition of an appeal as readers see it (names of the category
and the body, the original's number, ``overdue`` derived when read, lon/lat).

Checks that fail do not raise: the functions return ``problem`` (a message for the user) and
``problem_kind`` (``invalid`` or ``not_found``) and write nothing, so the caller's transaction
stays usable and Python raises its own error types.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# frozen here on purpose: a migration must not change when the code does
SNAP_M = {"well": 50.0, "building": 40.0, "yard": 30.0, "street": 120.0}

# An appeal as every reader sees it (staff, the resident's tracker, Open311): the category's
# and the organisation's names, the original's number, ``overdue`` derived at read time.
CARDS = """
CREATE VIEW appeal_cards AS
SELECT a.city_id, a.id, a.reg_number, a.channel, a.category_code, cat.name_ru AS category_ru,
       cat.name_kk AS category_kk, cat.name_en AS category_en, a.description, a.located_by,
       a.object_kind, a.object_id, a.address_text, a.district_id, a.organisation_id,
       o.name_ru AS organisation_ru, o.name_kk AS organisation_kk, a.status, a.created_at,
       a.deadline_at, a.resolved_at, a.closed_at, a.deferred_to_year,
       r.reg_number AS repeat_of, a.first_call_resolved, a.callback_done,
       a.status IN ('registered', 'assigned', 'in_progress', 'reopened')
         AND a.deadline_at < now() AS overdue,
       ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat
FROM appeals a
JOIN categories cat ON cat.code = a.category_code
LEFT JOIN organisations o ON o.city_id = a.city_id AND o.id = a.organisation_id
LEFT JOIN appeals r ON r.city_id = a.city_id AND r.id = a.repeat_of_id;
"""

DEGREE_BOX = """
CREATE FUNCTION qala_degree_box(lat double precision, metres double precision,
                                OUT dx double precision, OUT dy double precision)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  -- as geo.appeals.degree_box: half-width and half-height in degrees of a box holding every
  -- point within ``metres`` of a point at latitude ``lat``, with a 10 % margin
  SELECT CASE WHEN e >= 89 THEN 360.0 ELSE metres / (111319.0 * cos(radians(e))) * 1.1 END,
         CASE WHEN e >= 89 THEN 180.0 ELSE h END
  FROM (SELECT metres / 110574.0 * 1.1 AS h, abs(lat) + metres / 110574.0 * 1.1 AS e) AS b
$f$;
"""

LOCATE = f"""
CREATE FUNCTION qala_locate(
    p_city integer, p_category text, p_lon double precision, p_lat double precision,
    p_object_kind text DEFAULT NULL, p_object_id bigint DEFAULT NULL,
    OUT object_kind text, OUT object_id bigint, OUT object_label text,
    OUT district_id bigint, OUT district_name text,
    OUT organisation_id bigint, OUT organisation_name text, OUT routed_by text,
    OUT deadline_hours integer, OUT criticality text,
    OUT problem text, OUT problem_kind text)
LANGUAGE plpgsql STABLE AS $f$
#variable_conflict use_column
DECLARE
  cat categories;
  g geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
  gg geography := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326)::geography;
  box record;
  v_kind text;
  v_id bigint;
  v_label text;
  v_owner bigint;            -- the well's owner or the building's housing organisation
  v_bld bigint;              -- the building at the point
  v_bld_org bigint;
  v_bld_label text;
  v_org bigint;
BEGIN
  SELECT * INTO cat FROM categories c WHERE c.code = p_category;
  IF NOT FOUND THEN
    problem := format('unknown category %L: see GET /api/v1/categories', p_category);
    problem_kind := 'invalid';
    RETURN;
  END IF;
  deadline_hours := cat.deadline_hours;
  criticality := cat.criticality;

  -- the building at the point: the object itself, a yard's way in, or housing routing
  IF cat.object_kind IN ('building', 'yard') OR cat.responsible_kind = 'housing_org' THEN
    box := qala_degree_box(p_lat, {SNAP_M["building"]});
    SELECT b.id, b.housing_org_id, b.address_ru INTO v_bld, v_bld_org, v_bld_label
    FROM buildings b
    WHERE b.city_id = p_city AND b.geom && ST_Expand(g, box.dx, box.dy)
      AND ST_DWithin(b.geom::geography, gg, {SNAP_M["building"]})
    ORDER BY ST_Distance(b.geom, g), b.id LIMIT 1;
  END IF;

  IF coalesce(p_object_kind, '') <> '' AND p_object_id IS NOT NULL THEN
    -- the object the operator picked
    v_kind := p_object_kind;
    v_id := p_object_id;
    CASE p_object_kind
      WHEN 'well' THEN
        SELECT coalesce(w.code, w.kind), w.owner_id INTO v_label, v_owner
        FROM wells w WHERE w.city_id = p_city AND w.id = p_object_id;
      WHEN 'building' THEN
        SELECT b.address_ru, b.housing_org_id INTO v_label, v_owner
        FROM buildings b WHERE b.city_id = p_city AND b.id = p_object_id;
      WHEN 'yard' THEN
        SELECT y.name INTO v_label FROM yards y WHERE y.city_id = p_city AND y.id = p_object_id;
      WHEN 'street' THEN
        SELECT s.name_ru INTO v_label
        FROM streets s WHERE s.city_id = p_city AND s.id = p_object_id;
      ELSE
        problem := format('unknown object kind %L: building, yard, well or street',
                          p_object_kind);
        problem_kind := 'invalid';
        RETURN;
    END CASE;
    IF NOT FOUND THEN
      problem := format('no %s with id %s in this city', p_object_kind, p_object_id);
      problem_kind := 'invalid';
      RETURN;
    END IF;
  ELSE
    -- snap the point to the category's kind of object
    CASE cat.object_kind
      WHEN 'well' THEN
        box := qala_degree_box(p_lat, {SNAP_M["well"]});
        SELECT w.id, coalesce(w.code, w.kind), w.owner_id INTO v_id, v_label, v_owner
        FROM wells w
        WHERE w.city_id = p_city AND (cat.well_kind IS NULL OR w.kind = cat.well_kind)
          AND w.geom && ST_Expand(g, box.dx, box.dy)
          AND ST_DWithin(w.geom::geography, gg, {SNAP_M["well"]})
        ORDER BY w.geom <-> g LIMIT 1;
      WHEN 'building' THEN
        v_id := v_bld;
        v_label := v_bld_label;
        v_owner := v_bld_org;
      WHEN 'yard' THEN
        box := qala_degree_box(p_lat, {SNAP_M["yard"]});
        SELECT y.id, y.name INTO v_id, v_label
        FROM yards y
        WHERE y.city_id = p_city AND y.geom && ST_Expand(g, box.dx, box.dy)
          AND ST_DWithin(y.geom::geography, gg, {SNAP_M["yard"]})
        ORDER BY ST_Distance(y.geom, g), y.id LIMIT 1;
        IF v_id IS NULL AND v_bld IS NOT NULL THEN  -- the yard the building stands in
          SELECT yb.yard_id, y.name INTO v_id, v_label
          FROM yard_buildings yb JOIN yards y ON y.city_id = yb.city_id AND y.id = yb.yard_id
          WHERE yb.city_id = p_city AND yb.building_id = v_bld
          ORDER BY yb.yard_id LIMIT 1;
        END IF;
      WHEN 'street' THEN
        box := qala_degree_box(p_lat, {SNAP_M["street"]});
        SELECT s.id, s.name_ru INTO v_id, v_label
        FROM streets s
        WHERE s.city_id = p_city AND s.geom && ST_Expand(g, box.dx, box.dy)
          AND ST_DWithin(s.geom::geography, gg, {SNAP_M["street"]})
        ORDER BY s.geom <-> g LIMIT 1;
      ELSE
        NULL;
    END CASE;
    v_kind := CASE WHEN v_id IS NOT NULL THEN cat.object_kind ELSE 'none' END;
  END IF;

  -- route
  routed_by := 'service area';
  IF v_kind = 'well' AND v_owner IS NOT NULL THEN
    v_org := v_owner;
    routed_by := 'owner of the well';
  ELSIF cat.responsible_kind = 'housing_org' THEN
    v_org := CASE WHEN v_kind = 'building' THEN v_owner ELSE v_bld_org END;
    IF v_org IS NOT NULL THEN
      routed_by := 'housing organisation of the building';
    END IF;
  END IF;
  IF v_org IS NULL AND cat.responsible_kind <> 'housing_org' THEN
    SELECT o.id INTO v_org FROM organisations o
    WHERE o.city_id = p_city AND o.kind = cat.responsible_kind AND ST_Covers(o.service_area, g)
    ORDER BY ST_Area(o.service_area), o.id LIMIT 1;
  END IF;
  IF v_org IS NULL THEN
    SELECT o.id INTO v_org FROM organisations o
    WHERE o.city_id = p_city AND o.kind = 'district_akimat' AND ST_Covers(o.service_area, g)
    ORDER BY ST_Area(o.service_area), o.id LIMIT 1;
    routed_by := 'district akimat (no responsible body found)';
  END IF;
  IF v_org IS NOT NULL THEN
    SELECT o.name_ru INTO organisation_name
    FROM organisations o WHERE o.city_id = p_city AND o.id = v_org;
  END IF;
  SELECT d.id, d.name_ru INTO district_id, district_name
  FROM districts d WHERE d.city_id = p_city AND ST_Covers(d.geom, g) ORDER BY d.id LIMIT 1;

  object_kind := v_kind;
  object_id := v_id;
  object_label := v_label;
  organisation_id := v_org;
END
$f$;
"""

# Same object OR near the point, as a UNION of two branches so that each one is answered
# from its own index: the object index, and the GiST index on geom through the degree box.
# The box is searched on its own (OFFSET 0 keeps the planner from combining it with the
# category or time indexes, which costs more than it saves once the table is large).
REPEATS = """
CREATE FUNCTION qala_repeat_candidates(
    p_city integer, p_category text, p_object_kind text, p_object_id bigint,
    p_lon double precision, p_lat double precision, p_at timestamptz DEFAULT now())
RETURNS TABLE (id bigint, reg_number text, status text, created_at timestamptz,
               root_id bigint, same_object boolean, distance_m numeric)
LANGUAGE plpgsql STABLE AS $f$
#variable_conflict use_column
DECLARE
  cat categories;
  g geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
  gg geography := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326)::geography;
  box record;
  since timestamptz;
BEGIN
  SELECT * INTO cat FROM categories c WHERE c.code = p_category;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  box := qala_degree_box(p_lat, cat.repeat_radius_m);
  since := p_at - make_interval(days => cat.repeat_window_days);
  RETURN QUERY
  SELECT r.id, r.reg_number::text, r.status::text, r.created_at, r.root_id, r.same_object,
         r.distance_m
  FROM (
    SELECT a.id, a.reg_number, a.status, a.created_at, coalesce(a.repeat_of_id, a.id) AS root_id,
           true AS same_object, round(ST_Distance(a.geom::geography, gg)::numeric, 1) AS distance_m
    FROM appeals a
    WHERE a.city_id = p_city AND a.category_code = p_category AND a.created_at >= since
      AND a.status NOT IN ('rejected', 'duplicate')
      AND a.object_kind = p_object_kind AND a.object_id = p_object_id
    UNION
    SELECT a.id, a.reg_number, a.status, a.created_at, coalesce(a.repeat_of_id, a.id),
           coalesce(a.object_kind = p_object_kind AND a.object_id = p_object_id, false),
           round(ST_Distance(a.geom::geography, gg)::numeric, 1)
    FROM (SELECT * FROM appeals x WHERE x.geom && ST_Expand(g, box.dx, box.dy) OFFSET 0) AS a
    WHERE a.city_id = p_city AND a.category_code = p_category AND a.created_at >= since
      AND a.status NOT IN ('rejected', 'duplicate')
      AND ST_DWithin(a.geom::geography, gg, cat.repeat_radius_m)
  ) AS r
  ORDER BY r.same_object DESC, r.distance_m, r.created_at
  LIMIT 10;
END
$f$;
"""

CREATE = """
CREATE FUNCTION qala_create_appeal(
    p_city integer, p_category text, p_lon double precision, p_lat double precision,
    p_channel text, p_description text, p_located_by text,
    p_object_kind text, p_object_id bigint, p_address_text text,
    p_name text, p_phone text, p_email text, p_first_call_resolved boolean,
    p_idempotency_key text, p_repeat_of text, p_actor text, p_actor_role text,
    OUT created boolean, OUT card appeal_cards, OUT problem text, OUT problem_kind text)
LANGUAGE plpgsql AS $f$
#variable_conflict use_column
DECLARE
  g geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
  v_city_code text;
  v_inside boolean;
  v_hours integer;
  loc record;
  v_year integer;
  v_seq text;
  v_n bigint;
  v_reg text;
  v_repeat_of bigint;
  v_repeat_reg text;
  v_comment text;
  v_id bigint;
BEGIN
  created := false;
  -- a channel that re-sends the same appeal gets the first one back
  IF p_idempotency_key IS NOT NULL THEN
    SELECT a.id INTO v_id FROM appeals a
    WHERE a.city_id = p_city AND a.idempotency_key = p_idempotency_key;
    IF v_id IS NOT NULL THEN
      SELECT * INTO card FROM appeal_cards v WHERE v.city_id = p_city AND v.id = v_id;
      RETURN;
    END IF;
  END IF;

  SELECT c.code, ST_Covers(c.bounds, g) INTO v_city_code, v_inside
  FROM cities c WHERE c.id = p_city;
  IF NOT FOUND THEN
    problem := format('no city with id %s', p_city);
    problem_kind := 'not_found';
    RETURN;
  END IF;
  IF NOT v_inside THEN
    problem := format('the point (%s, %s) is outside the city',
                      round(p_lon::numeric, 6), round(p_lat::numeric, 6));
    problem_kind := 'invalid';
    RETURN;
  END IF;

  loc := qala_locate(p_city, p_category, p_lon, p_lat, p_object_kind, p_object_id);
  IF loc.problem IS NOT NULL THEN
    problem := loc.problem;
    problem_kind := loc.problem_kind;
    RETURN;
  END IF;

  IF coalesce(p_repeat_of, '') <> '' THEN  -- the operator chose the original
    SELECT coalesce(a.repeat_of_id, a.id) INTO v_repeat_of
    FROM appeals a WHERE a.city_id = p_city AND a.reg_number = p_repeat_of;
    IF v_repeat_of IS NULL THEN
      problem := format('repeat_of: no appeal %L', p_repeat_of);
      problem_kind := 'invalid';
      RETURN;
    END IF;
  ELSE
    SELECT r.root_id, r.reg_number INTO v_repeat_of, v_repeat_reg
    FROM qala_repeat_candidates(p_city, p_category, loc.object_kind,
                                coalesce(loc.object_id, -1), p_lon, p_lat) AS r
    LIMIT 1;
  END IF;

  -- the registration number: the city's sequence of the (UTC) year, made on first use
  v_year := extract(year FROM now() AT TIME ZONE 'UTC');
  v_seq := format('appeal_seq_%s_%s', p_city, v_year);
  v_n := nextval(to_regclass(v_seq));
  IF v_n IS NULL THEN
    BEGIN
      EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', v_seq);
    EXCEPTION WHEN unique_violation OR duplicate_table THEN
      NULL;  -- another transaction created it at the same moment
    END;
    v_n := nextval(v_seq::regclass);
  END IF;
  v_reg := format('%s-%s-%s', v_city_code, v_year, lpad(v_n::text, greatest(6, length(v_n::text)), '0'));

  v_hours := loc.deadline_hours;
  v_comment := format('routed to %s (%s)', coalesce(loc.organisation_name, '—'), loc.routed_by)
               || CASE WHEN v_repeat_reg IS NOT NULL THEN '; repeat of ' || v_repeat_reg ELSE '' END;

  INSERT INTO appeals AS a (city_id, reg_number, channel, category_code, description,
      located_by, object_kind, object_id, address_text, district_id, organisation_id,
      status, deadline_at, resolved_at, repeat_of_id, first_call_resolved,
      idempotency_key, source_type, geom)
  VALUES (p_city, v_reg, p_channel, p_category, coalesce(p_description, ''), p_located_by,
      loc.object_kind, loc.object_id, coalesce(nullif(p_address_text, ''), loc.object_label),
      loc.district_id, loc.organisation_id,
      CASE WHEN p_first_call_resolved THEN 'resolved' ELSE 'registered' END,
      now() + make_interval(hours => v_hours),
      CASE WHEN p_first_call_resolved THEN now() END, v_repeat_of, p_first_call_resolved,
      p_idempotency_key, 'api', g)
  ON CONFLICT (city_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING a.id INTO v_id;
  IF v_id IS NULL THEN  -- the same key arrived concurrently and won
    SELECT * INTO card FROM appeal_cards v
    WHERE v.city_id = p_city AND v.id = (SELECT a.id FROM appeals a WHERE a.city_id = p_city
                                         AND a.idempotency_key = p_idempotency_key);
    RETURN;
  END IF;

  IF coalesce(p_name, '') <> '' OR coalesce(p_phone, '') <> '' OR coalesce(p_email, '') <> ''
  THEN
    INSERT INTO appeal_contacts (city_id, appeal_id, name, phone, email)
    VALUES (p_city, v_id, p_name, p_phone, p_email);
  END IF;
  INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                             organisation_id, comment)
  VALUES (p_city, v_id, p_actor, p_actor_role, NULL, 'registered', loc.organisation_id,
          v_comment);
  IF p_first_call_resolved THEN
    INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                               organisation_id, comment)
    VALUES (p_city, v_id, p_actor, p_actor_role, 'registered', 'resolved',
            loc.organisation_id, 'resolved on the first call');
  END IF;
  IF loc.object_kind <> 'none' AND loc.object_id IS NOT NULL THEN
    INSERT INTO object_repeats AS r (city_id, object_kind, object_id, appeals, repeats)
    VALUES (p_city, loc.object_kind, loc.object_id, 1,
            CASE WHEN v_repeat_of IS NOT NULL THEN 1 ELSE 0 END)
    ON CONFLICT (city_id, object_kind, object_id) DO UPDATE
    SET appeals = r.appeals + 1, repeats = r.repeats + EXCLUDED.repeats;
  END IF;
  created := true;
  SELECT * INTO card FROM appeal_cards v WHERE v.city_id = p_city AND v.id = v_id;
END
$f$;
"""

FUNCTIONS = (
    "qala_create_appeal(integer, text, double precision, double precision, text, text, text, "
    "text, bigint, text, text, text, text, boolean, text, text, text, text)",
    "qala_repeat_candidates(integer, text, text, bigint, double precision, double precision, "
    "timestamptz)",
    "qala_locate(integer, text, double precision, double precision, text, bigint)",
    "qala_degree_box(double precision, double precision)",
)


def upgrade() -> None:
    for sql in (CARDS, DEGREE_BOX, LOCATE, REPEATS, CREATE):
        op.execute(sql)


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP VIEW IF EXISTS appeal_cards")
