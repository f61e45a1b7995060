"""Alertmanager's matcher syntax: parsing, errors, and matching (fully anchored regexes, absent labels are "")."""

from __future__ import annotations

import pytest

from dingrelay.adapters.matchers import MatcherError, matches_all, parse_matcher, parse_matchers

PARSED = [
    ('severity="critical"', ("severity", "=", "critical")),
    ("severity=critical", ("severity", "=", "critical")),
    ('  severity  !=  "info"  ', ("severity", "!=", "info")),
    ('instance=~"db-.*"', ("instance", "=~", "db-.*")),
    ("team!~a|b", ("team", "!~", "a|b")),
    ('team=""', ("team", "=", "")),
    ("team=", ("team", "=", "")),
    (r'msg="say \"hi\""', ("msg", "=", 'say "hi"')),
    (r'path="C:\\temp"', ("path", "=", "C:\\temp")),
    (r'text="a\nb"', ("text", "=", "a\nb")),
    (r'odd="a\qb"', ("odd", "=", r"a\qb")),
    ('quote="a, b"', ("quote", "=", "a, b")),
    ('__name__="up"', ("__name__", "=", "up")),
    ('job:rate="1"', ("job:rate", "=", "1")),
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[p[0] for p in PARSED])
def test_a_matcher_parses_into_name_operator_and_value(text: str, expected: tuple[str, str, str]) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == expected


BAD = [
    ("severity", "is not a matcher"),
    ('="critical"', "is not a matcher"),
    ('severity=="critical"', "unescaped double quote"),
    ('severity="crit"ical"', "unescaped double quote"),
    ('severity="critical', "never closed"),
    ('1severity="x"', "is not a matcher"),
    ('名="值"', "is not a matcher"),          # classic label names are ASCII
    ('instance=~"db-("', "not a valid regular expression"),
    (r'instance=~"(a)\\1"', "invalid escape sequence: \\1"),   # RE2, as Alertmanager: no backreferences
    ('instance=~"(?=db).*"', "invalid perl operator: (?="),     # ... and no lookaround
    ('instance!~"(?<!web)-1"', "invalid perl operator"),
    ("", "holds no matcher"),
    ("{}", "holds no matcher"),
]


@pytest.mark.parametrize(("text", "says"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_a_bad_matcher_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert says in str(caught.value)


def test_several_matchers_in_one_line_split_on_commas_outside_quotes() -> None:
    ms = parse_matchers('{severity="critical", team=~"db|dba" ,msg="a, b",}')
    assert [(m.name, m.op, m.value) for m in ms] == [
        ("severity", "=", "critical"), ("team", "=~", "db|dba"), ("msg", "=", "a, b")]


LABELS = {"alertname": "DiskFull", "severity": "critical", "instance": "db-1:9100", "team": "dba"}
MATCHING = [
    ('severity="critical"', True),
    ('severity="Critical"', False),
    ('severity!="critical"', False),
    ('severity!="warning"', True),
    ('instance=~"db-.*"', True),
    ('instance=~"db"', False),            # anchored: a partial match is no match
    ('instance=~"db-1"', False),
    ('instance=~".*:9100"', True),
    ('instance!~"web-.*"', True),
    ('team=~"db|web"', False),            # anchored around the whole alternation: (?:db|web)
    ('team=~"dba|web"', True),
    ('owner=""', True),                   # an absent label is the empty string
    ('owner!="alice"', True),
    ('owner=~".*"', True),
    ('owner=~".+"', False),
    ('team=""', False),
]


@pytest.mark.parametrize(("text", "matches"), MATCHING, ids=[m[0] for m in MATCHING])
def test_matching_follows_alertmanager(text: str, matches: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is matches


def test_every_matcher_of_a_line_must_match() -> None:
    assert matches_all(parse_matchers('severity="critical", team="dba"'), LABELS)
    assert not matches_all(parse_matchers('severity="critical", team="web"'), LABELS)


def test_a_regex_does_not_match_across_a_trailing_newline() -> None:
    assert not parse_matcher('v=~"a"').matches({"v": "a\n"})


def test_regexes_are_re2_with_go_classes_and_flags() -> None:
    assert parse_matcher(r'instance=~"db-\\d+:9100"').matches(LABELS)
    assert parse_matcher('severity=~"(?i)CRIT.*"').matches(LABELS)
    assert parse_matcher(r'alertname=~"\\pL+"').matches(LABELS)   # Unicode classes, as Go's regexp has


def test_a_matcher_prints_in_alertmanager_form() -> None:
    assert str(parse_matcher(r'msg = say \"hi\"')) == r'msg="say \"hi\""'
