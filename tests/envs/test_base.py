"""`pgjax.envs.base`: environment ids name their suite, a missing suite is one line with the pip
command, an unknown one lists the suites, and `list_envs` says what is installed."""

from __future__ import annotations

import re

import pytest

from pgjax.envs import env_spec, list_envs, split_env_id, vector
from pgjax.envs.base import SUITES


def test_bare_names_are_gymnax_and_prefixed_names_name_their_suite():
    assert split_env_id("CartPole-v1") == ("gymnax", "CartPole-v1")
    assert split_env_id("brax/ant:positional") == ("brax", "ant:positional")
    assert split_env_id("jumanji/Maze-v0") == ("jumanji", "Maze-v0")


@pytest.mark.parametrize("env_id", ["navix/Navix-Empty-5x5-v0", "gymnax/CartPole-v1"])
def test_an_unknown_suite_is_one_line_listing_the_suites_and_pgjax_envs(env_id):
    with pytest.raises(ValueError) as caught:
        env_spec(env_id)
    message = str(caught.value)
    assert "\n" not in message and "Unknown environment suite" in message
    for suite in ("brax/NAME", "xminigrid/NAME", "jumanji/NAME", "`pgjax envs`"):
        assert suite in message


def test_a_suite_that_is_not_installed_is_one_line_with_the_pip_command(monkeypatch):
    absent = SUITES["brax"]._replace(package="pgjax_test_absent_package")
    monkeypatch.setitem(SUITES, "brax", absent)
    vector.env_spec.cache_clear()
    try:
        with pytest.raises(ValueError, match=re.escape("pip install 'pgjax[brax]'")) as caught:
            env_spec("brax/hopper")
        assert "\n" not in str(caught.value)
        rows = list_envs("brax")
        assert rows and not any(row.installed for row in rows)
        assert {row.extra for row in rows} == {"brax"}
    finally:
        vector.env_spec.cache_clear()


def test_list_envs_rows_are_ids_the_suites_accept():
    rows = list_envs()
    assert {row.suite for row in rows} == set(SUITES)
    gymnax = list_envs("gymnax")
    assert any(row.env_id == "CartPole-v1" for row in gymnax)
    assert all(row.installed and row.extra == "" for row in gymnax)
    for own in ("CartPole-v1-masked", "ShortCorridor-pgjax", "CellSelect-pgjax"):
        assert own in {row.env_id for row in gymnax}, own
        assert env_spec(own).env_id == own
    assert "brax/inverted_pendulum" in {row.env_id for row in list_envs("brax")}
    with pytest.raises(ValueError, match="Unknown environment suite 'navix'"):
        list_envs("navix")
