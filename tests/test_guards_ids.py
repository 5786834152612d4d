"""The id rule's guards, each one on its own: a file name made from an id never leaves its
folder, whatever part of the rule is broken (found by benchmarks/mutation.py)."""

from __future__ import annotations

import pytest

from mle3.errors import Mle3Error
from mle3.ids import MAX_LENGTH, check_id, id_problem


@pytest.mark.parametrize(
    "value", ["a", "Z", "0", "9", "TINY-MODEL-v0.1.0", "a.b_c-d", "x" * MAX_LENGTH, "a.b.c", "1-_."]
)
def test_valid_ids_have_no_problem(value):
    assert id_problem(value) is None
    assert check_id(value) == value


def test_the_length_limit_is_128_characters_inclusive():
    assert MAX_LENGTH == 128
    assert id_problem("a" * 128) is None
    problem = id_problem("a" * 129)
    assert problem and "129" in problem


@pytest.mark.parametrize(
    "value",
    [
        "",
        "..",
        "a..b",
        "../etc",
        "a/b",
        "/abs",
        "a\\b",
        "a b",
        "a\tb",
        "a\nb",
        "a\x00b",
        ".hidden",
        "-flag",
        "_x",
        "é",
        "aé",
        "a:b",
        "a*b",
    ],
)
def test_ids_that_could_leave_their_folder_or_confuse_a_tool_are_refused(value):
    assert id_problem(value) is not None
    with pytest.raises(Mle3Error) as err:
        check_id(value)
    assert err.value.exit_code == 2


def test_dot_dot_is_refused_even_where_the_pattern_would_allow_it():
    # every character of 'v1..2' is allowed on its own; only the '..' rule refuses it
    assert id_problem("v1..2") is not None
    assert id_problem("v1.2") is None


def test_a_problem_names_the_characters_that_are_not_allowed():
    problem = id_problem("a b/c")
    assert "' '" in problem and "'/'" in problem and "'a'" not in problem
    assert "'é'" in id_problem("xé")


def test_a_bad_first_character_is_named_when_every_character_is_allowed():
    problem = id_problem(".x")
    assert problem and "first character" in problem


def test_only_the_first_five_bad_characters_are_listed():
    problem = id_problem("a!#$%&*")
    assert "'&'" in problem and "'*'" not in problem  # sorted: ! # $ % & listed, * left out


def test_non_string_values_are_checked_as_their_text():
    assert check_id(5) == "5" and id_problem(5) is None
    assert id_problem(None) is None  # 'None' is a valid id text; the loader rejects missing ids itself
    assert id_problem(["a"]) is not None


def test_the_error_names_what_and_where_and_stays_one_short_line():
    with pytest.raises(Mle3Error) as err:
        check_id("../" * 20, "data set version", file="data/x.yaml", line=3, field="version")
    text = str(err.value)
    assert text.startswith("data/x.yaml:3: data set version ")
    assert "contains '..'" in text and text.endswith("[version]")
    with pytest.raises(Mle3Error) as err:
        check_id("x" * 100_000)
    assert "100000" in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 200


def test_an_empty_id_is_named_as_empty():
    assert id_problem("") == "is empty"
