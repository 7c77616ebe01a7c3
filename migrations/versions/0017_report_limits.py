"""rate limits of residents' reports (``/report``), shared by every process

``report_attempts``: one row per report counted, per client address and per contact (phone or
e-mail), both as SHA-256 digests — never the address or the contact itself — with the form's
Idempotency-Key (a form sent again is not counted again). No city: like ``login_failures``
(migration 0011) it has row security on, no policy and no grant; the service reaches it only
through ``qala_report_admit`` (SECURITY DEFINER, fixed ``search_path``), which:

* takes a transaction-level advisory lock per key (in a fixed order: two reports sharing a
  key are counted one after the other, whichever process of the service sends them, and
  two reports sharing two keys never wait for each other crosswise);
* answers the seconds until the oldest report that keeps a key at its limit leaves the
  window (the longer of the client's and the contact's), or NULL when the report may go;
* with ``p_record``, counts an admitted report (one row per key) and prunes rows older than
  the window. The API calls it once without recording before reading the photos (a flood is
  refused before any work) and once recording in the transaction that registers the appeal
  (only a report that is registered is counted; a refused one rolls its rows back).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"
PATH = "SET search_path = pg_catalog, public, pg_temp"
SIGNATURE = "qala_report_admit(text, text, text, integer, integer, integer, boolean)"

ADMIT = f"""
CREATE FUNCTION qala_report_admit(p_client text, p_contact text, p_form text,
                                  p_window integer, p_per_client integer,
                                  p_per_contact integer, p_record boolean)
RETURNS numeric
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  v_since timestamptz := now() - p_window * interval '1 s';
  v_key text;
  v_wait numeric;
BEGIN
  FOR v_key IN SELECT k FROM unnest(ARRAY[p_client, p_contact]) AS k
               WHERE k IS NOT NULL ORDER BY k LOOP
    PERFORM pg_advisory_xact_lock(hashtext('qala.report:' || v_key));
  END LOOP;
  -- the same form sent again (a double click, a retry after a lost answer): counted once
  IF p_form IS NOT NULL AND EXISTS (
      SELECT FROM public.report_attempts r
      WHERE r.key IN (p_client, p_contact) AND r.form = p_form AND r.at > v_since) THEN
    RETURN NULL;
  END IF;
  -- seconds until the n-th most recent report in the window (n = the limit) leaves it
  SELECT greatest(
    EXTRACT(EPOCH FROM (
      (SELECT r.at FROM public.report_attempts r
       WHERE r.key = p_client AND r.at > v_since
       ORDER BY r.at DESC OFFSET p_per_client - 1 LIMIT 1) + p_window * interval '1 s' - now())),
    EXTRACT(EPOCH FROM (
      (SELECT r.at FROM public.report_attempts r
       WHERE r.key = p_contact AND r.at > v_since
       ORDER BY r.at DESC OFFSET p_per_contact - 1 LIMIT 1) + p_window * interval '1 s' - now()))
  ) INTO v_wait;
  IF v_wait IS NOT NULL THEN
    RETURN greatest(v_wait, 1);
  END IF;
  IF p_record THEN
    INSERT INTO public.report_attempts (key, form)
    SELECT k, p_form FROM unnest(ARRAY[p_client, p_contact]) AS k WHERE k IS NOT NULL;
    DELETE FROM public.report_attempts WHERE at < v_since;
  END IF;
  RETURN NULL;
END
$f$;
"""


def upgrade() -> None:
    op.create_table(
        "report_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("form", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_attempts")),
    )
    op.create_index("ix_report_attempts_key", "report_attempts", ["key", "at"])
    op.create_index("ix_report_attempts_at", "report_attempts", ["at"])
    op.execute("ALTER TABLE report_attempts ENABLE ROW LEVEL SECURITY")
    op.execute("REVOKE ALL ON report_attempts FROM PUBLIC")
    op.execute(ADMIT)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_GROUP}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    op.drop_table("report_attempts")
