"""staff identity: roles per city, token versions, login failures

* ``staff_roles`` (city, user, role, organisation): one account may work in several cities
  with a role in each. The existing ``users.role``/``organisation_id`` become the account's
  role in its home city (``users.city_id``) and are dropped from ``users``: a role kept in
  two places would drift, and a token must be issued from the one that is checked.
* ``users.token_version``: in every token; raised by "log out everywhere" and by disabling,
  so older tokens stop working at once.
* ``login_failures``: failed logins per account and client address over the throttling
  window, shared by all processes of the service.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# frozen here: a migration must not change when the models do
ROLES = "role IN ('operator', 'inspector', 'executor', 'controller', 'planner', 'admin')"


def upgrade() -> None:
    op.create_unique_constraint(op.f("uq_users_id"), "users", ["id"])
    op.add_column(
        "users",
        sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "staff_roles",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("organisation_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "role <> 'executor' OR organisation_id IS NOT NULL",
            name=op.f("ck_staff_roles_executor_org"),
        ),
        sa.CheckConstraint(ROLES, name=op.f("ck_staff_roles_role")),
        sa.ForeignKeyConstraint(
            ["city_id", "organisation_id"],
            ["organisations.city_id", "organisations.id"],
            name=op.f("fk_staff_roles_city_id_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_staff_roles_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staff_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("city_id", "user_id", name=op.f("pk_staff_roles")),
    )
    op.create_index("ix_staff_roles_user", "staff_roles", ["user_id"])
    op.execute(
        "INSERT INTO staff_roles (city_id, user_id, role, organisation_id) "
        "SELECT city_id, id, role, organisation_id FROM users"
    )
    op.drop_constraint(op.f("ck_users_executor_org"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.drop_constraint(
        op.f("fk_users_city_id_organisation_id_organisations"), "users", type_="foreignkey"
    )
    op.drop_column("users", "organisation_id")
    op.drop_column("users", "role")

    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_account", "login_failures", ["account", "at"])
    op.create_index("ix_login_failures_client", "login_failures", ["client", "at"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_index("ix_login_failures_client", table_name="login_failures")
    op.drop_index("ix_login_failures_account", table_name="login_failures")
    op.drop_table("login_failures")

    op.add_column("users", sa.Column("role", sa.String(length=12), nullable=True))
    op.add_column("users", sa.Column("organisation_id", sa.BigInteger(), nullable=True))
    # an account keeps its role in its home city, else its first city's (roles in other
    # cities are lost: the old schema has one role per account)
    op.execute("""
        UPDATE users u SET role = r.role,
               organisation_id = CASE WHEN r.city_id = u.city_id THEN r.organisation_id END
        FROM (SELECT DISTINCT ON (r.user_id) r.*
              FROM staff_roles r JOIN users u2 ON u2.id = r.user_id
              ORDER BY r.user_id, r.city_id <> u2.city_id, r.city_id) r
        WHERE r.user_id = u.id""")
    # an executor whose organisation is in another city, or an account without a role, can
    # no longer be described: it is kept, disabled, as an operator
    op.execute("""
        UPDATE users SET active = false, role = 'operator', organisation_id = NULL
        WHERE role IS NULL OR (role = 'executor' AND organisation_id IS NULL)""")
    op.alter_column("users", "role", nullable=False)
    op.create_foreign_key(
        op.f("fk_users_city_id_organisation_id_organisations"),
        "users",
        "organisations",
        ["city_id", "organisation_id"],
        ["city_id", "id"],
    )
    op.create_check_constraint(op.f("ck_users_role"), "users", ROLES)
    op.create_check_constraint(
        op.f("ck_users_executor_org"), "users", "role <> 'executor' OR organisation_id IS NOT NULL"
    )
    op.drop_index("ix_staff_roles_user", table_name="staff_roles")
    op.drop_table("staff_roles")
    op.drop_column("users", "token_version")
    op.drop_constraint(op.f("uq_users_id"), "users", type_="unique")
