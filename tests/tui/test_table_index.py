"""The variant table's filter indexes, alone: what they answer must be what testing each row says."""

from __future__ import annotations

import random

from xxp_tui.tui.widgets.table_index import SMALL_GROUP, HayGroups, ValueIndex, word_may_match_id


def test_rows_alike_share_one_copy_of_their_text():
    groups = HayGroups()
    a = groups.add(1, "".join(["grid queued ", "strategy t.lr=1"]))
    b = groups.add(2, "".join(["grid queued strategy ", "t.lr=1"]))
    assert a == b and a is b
    assert len(groups) == 1


def test_a_big_group_turns_into_a_set_and_empty_groups_go():
    groups = HayGroups()
    for vid in range(SMALL_GROUP + 10):
        groups.add(vid, "same")
    assert isinstance(groups.by_hay["same"], set)
    groups.add(1000, "other")
    assert groups.by_hay["other"] == [1000]
    groups.discard(1000, "other")
    groups.discard(1000, "other")  # twice, or never added: nothing happens
    groups.discard(5, "never")
    assert "other" not in groups.by_hay
    for vid in range(SMALL_GROUP + 10):
        groups.discard(vid, "same")
    assert len(groups) == 0


def test_the_groups_a_word_matches_are_those_a_test_per_row_passes():
    rng = random.Random(19)
    hays = {vid: f"{rng.choice(['grid', 'tune'])} {rng.choice(['queued', 'running', 'completed'])} "
                 f"t.lr={rng.choice([0.1, 0.25, 1, 2])}" for vid in range(500)}
    groups = HayGroups()
    for vid, hay in hays.items():
        groups.add(vid, hay)
    for vid in rng.sample(sorted(hays), 100):  # rows change: each moves to its new group
        groups.discard(vid, hays[vid])
        hays[vid] = f"grid failed t.lr={rng.choice([0.5, 3])}"
        groups.add(vid, hays[vid])
    for term in ["grid", "g", "queued", "t.lr=0.", "=2", "failed", "nothing", "e", "t"]:
        expected = {vid for vid, hay in hays.items() if term in hay}
        passing, found = groups.matching(term, len(hays))
        ids = set().union(*found)
        assert (ids if passing else set(hays) - ids) == expected, term
        assert passing == (len(expected) * 2 <= len(hays)), term


def test_a_value_index_built_at_once_is_the_one_built_row_by_row():
    rng = random.Random(4)
    values = {vid: rng.choice([None, 1, 10, True, "Adam", "adamw", 0.5]) for vid in range(300)}
    built = ValueIndex.build(values.items())
    added = ValueIndex()
    for vid in rng.sample(sorted(values), len(values)):
        added.add(vid, values[vid])
    assert built.by_value == added.by_value
    assert all(ids == sorted(ids) for ids in built.by_value.values())
    for vid in range(0, 300, 3):
        built.discard(vid, values[vid])
        values[vid] = None
    built.discard(1, "never held")
    for prefix in ["1", "adam", "true", "", "0.", "x"]:
        expected = {vid for vid, v in values.items() if v is not None and str(v).lower().startswith(prefix)}
        found = built.matching(prefix, len(values))
        assert (set(values) if found is None else found) == expected, prefix
    everyone = ValueIndex.build((vid, "a") for vid in range(10))
    assert everyone.matching("", 10) is None and everyone.matching("a", 10) is None
    assert everyone.matching("a", 11) == set(range(10))  # one row has no value


def test_only_v_and_digits_can_be_in_an_id():
    assert word_may_match_id("v12") and word_may_match_id("3") and word_may_match_id("v") and word_may_match_id("1v")
    assert not word_may_match_id("grid") and not word_may_match_id("v1a") and not word_may_match_id("id:v1")
