"""The appeal states have one home (geo.appeals.states); everything else agrees with it.

The migrations are frozen history with their own copies of the state lists (the CHECK
constraint, the ``appeal_cards`` view, the partial index of open cells, the PL/pgSQL
functions): these tests read them back from the migrated database and compare.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from geo.appeals import states
from layers.registry import APPEAL_STATUS_COLOURS, get_layer
from tests.factories import insert_appeal
from web import i18n

LITERAL = re.compile(r"'([a-z_]+)'")


def literals(sql: str) -> list[str]:
    return LITERAL.findall(sql)


def function_source(conn, name: str) -> str:
    return conn.execute(
        text(
            "SELECT prosrc FROM pg_proc "
            "WHERE proname = :n AND pronamespace = 'public'::regnamespace"
        ),
        {"n": name},
    ).scalar_one()


# --- the module itself ---------------------------------------------------------------------


def test_open_and_closed_divide_the_states_and_the_other_groups_sit_inside_them():
    assert set(states.OPEN) | set(states.CLOSED) == set(states.STATES)
    assert not set(states.OPEN) & set(states.CLOSED)
    assert set(states.ACTIVE) < set(states.OPEN)
    assert set(states.DISMISSED) < set(states.CLOSED)
    assert states.INITIAL in states.ACTIVE and states.FIRST_CALL in states.CLOSED
    assert [states.public_status(s) for s in ("reopened", "deferred", "rejected")] == [
        "open",
        "open",
        "closed",
    ]


def test_every_state_has_its_transitions_and_every_target_is_a_state():
    assert set(states.TRANSITIONS) == set(states.STATES)
    for source, targets in states.TRANSITIONS.items():
        assert targets, source
        assert targets <= set(states.STATES), source
    # a finished appeal comes back only by being reopened
    for finished in states.CLOSED:
        assert states.TRANSITIONS[finished] <= {"closed", "reopened"}, finished


def test_every_state_has_words_in_three_languages_and_the_pages_use_them():
    assert set(states.LABELS) == set(states.STATES)
    for state, words in states.LABELS.items():
        assert len(words) == 3 and all(w.strip() for w in words), state
        for lang, word in zip(states.LANGS, words, strict=True):
            assert states.label(state, lang) == word
            assert i18n.vocabulary(lang)["states"][state] == word


def test_the_map_layers_filter_and_colour_by_the_same_states():
    assert set(APPEAL_STATUS_COLOURS) == set(states.STATES)
    status = get_layer("appeals").filter("status")
    assert status is not None and status.values == states.STATES


# --- the database's copies -----------------------------------------------------------------


def test_the_status_check_constraint_lists_every_state(conn):
    check = conn.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'appeals'::regclass AND conname = 'ck_appeals_status'"
        )
    ).scalar_one()
    assert literals(check) == list(states.STATES)


def test_overdue_in_the_appeal_cards_view_is_the_active_group(conn):
    view = conn.execute(text("SELECT pg_get_viewdef('appeal_cards'::regclass)")).scalar_one()
    overdue = [line for line in view.splitlines() if line.rstrip(",").endswith("AS overdue")]
    assert len(overdue) == 1, view
    assert literals(overdue[0]) == list(states.ACTIVE)
    assert "deadline_at < now()" in overdue[0]


def test_the_view_marks_overdue_exactly_the_active_states_past_their_deadline(conn, city_id):
    ids = {
        s: insert_appeal(
            conn,
            city_id,
            69.15,
            54.87,
            status=s,
            created_at="2020-01-01T00:00:00Z",
            deadline_at="2020-01-02T00:00:00Z",
            deferred_to_year=2030 if s == "deferred" else None,
        )
        for s in states.STATES
    }
    rows = conn.execute(
        text("SELECT status, overdue FROM appeal_cards WHERE city_id = :c AND id = ANY(:ids)"),
        {"c": city_id, "ids": list(ids.values())},
    ).all()
    assert len(rows) == len(states.STATES)
    assert {s for s, overdue in rows if overdue} == set(states.ACTIVE)


def test_the_partial_index_of_open_cells_holds_the_active_group(conn):
    index = conn.execute(
        text("SELECT pg_get_indexdef('ix_appeals_open_cell'::regclass)")
    ).scalar_one()
    where = index.split(" WHERE ", 1)[1]
    assert literals(where) == list(states.ACTIVE)


def test_repeat_candidates_leave_out_the_dismissed_states(conn):
    source = function_source(conn, "qala_repeat_candidates")
    lists = re.findall(r"status NOT IN \(([^)]*)\)", source)
    assert lists, "qala_repeat_candidates filters by status"
    for found in lists:
        assert literals(found) == list(states.DISMISSED)


def test_a_new_appeal_starts_in_the_initial_state_or_resolved_on_the_first_call(conn):
    source = function_source(conn, "qala_create_appeal")
    case = re.search(r"WHEN p_first_call_resolved THEN '(\w+)' ELSE '(\w+)' END", source)
    assert case, "qala_create_appeal chooses the first state"
    assert case.groups() == (states.FIRST_CALL, states.INITIAL)


@pytest.mark.parametrize(
    "function",
    [
        "appeal_cells_on_insert",
        "appeal_cells_on_update",
        "appeal_cells_on_delete",
        "refresh_appeal_cells",
    ],
)
def test_the_cell_counts_keep_one_column_per_state(conn, function):
    columns = conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'appeal_cells' "
            "AND column_name LIKE 'n\\_%' ORDER BY ordinal_position"
        )
    ).scalars()
    assert [c[2:] for c in columns] == list(states.STATES)
    counted = re.findall(r"status = '(\w+)'", function_source(conn, function))
    assert sorted(set(counted)) == sorted(states.STATES)
