import pytest

from dripfleet.queries import QueryBook, QueryError, parse_queries, queries


def test_blocks_are_split_by_name_with_descriptions():
    found = parse_queries(
        "-- file comment\n\n-- name: first_one\n-- Does a thing.\nSELECT 1;\n\n"
        "-- name: second\nSELECT :x::int\n",
        "t.sql",
    )
    assert [(q.name, q.description, q.sql) for q in found] == [
        ("first_one", "Does a thing.", "SELECT 1"),
        ("second", "", "SELECT :x::int"),
    ]


def test_sql_before_first_name_is_refused():
    with pytest.raises(QueryError, match="before the first"):
        parse_queries("SELECT 1\n-- name: a\nSELECT 2", "bad.sql")


def test_empty_query_is_refused():
    with pytest.raises(QueryError, match="no SQL"):
        parse_queries("-- name: a\n-- only words\n", "bad.sql")


def test_duplicate_names_across_files_fail_at_load(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1\n")
    (tmp_path / "b.sql").write_text("-- name: same\nSELECT 2\n")
    with pytest.raises(QueryError, match="a.sql and b.sql"):
        QueryBook(tmp_path)


def test_unknown_names_fail_fast():
    with pytest.raises(QueryError, match="no query named"):
        queries["no_such_query"]
    with pytest.raises(QueryError, match="missing queries"):
        queries.require("insert_user", "no_such_query")


def test_project_queries_load():
    assert "insert_user" in queries
    assert queries["insert_user"].source == "users.sql"
