"""operations: the outbox depth for /metrics, readable by the service without seeing a message

``outbox_messages`` is under row-level security (migration 0015): the service role sees a
city's messages only within a staff scope that reads contacts. ``/metrics`` needs the number
of messages waiting, across cities, and nothing else of them: ``qala_outbox_depth()`` counts
the pending and failed messages per state and channel, with the age of the oldest pending
one, as the owner (SECURITY DEFINER, a fixed ``search_path``), and only it is granted to the
service's group.

Revision ID: 0021
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen: migration 0011's group of the service's login role

DEPTH = """
CREATE FUNCTION qala_outbox_depth()
RETURNS TABLE (state text, channel text, messages bigint, oldest_s double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $f$
  SELECT o.state::text, o.channel::text, count(*),
         coalesce(extract(epoch FROM now() - min(o.created_at)), 0)::double precision
  FROM public.outbox_messages o
  WHERE o.state IN ('pending', 'failed')
  GROUP BY o.state, o.channel
$f$;
"""


def upgrade() -> None:
    op.execute(DEPTH)
    op.execute("REVOKE ALL ON FUNCTION qala_outbox_depth() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION qala_outbox_depth() TO {APP_GROUP}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS qala_outbox_depth()")
