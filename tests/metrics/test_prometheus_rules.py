"""The shipped alerting rules (``dingrelay/examples/prometheus-rules.yml``): Debian's promtool accepts them
(``check rules``), each alert fires on the series it should and on no other (``test rules`` with
``rules_test.yml``), every metric they name is one a scrape really has, and the file ships in the package.

promtool comes with Debian's ``prometheus`` package (``scripts/test`` installs it when it can); without it these
tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from metrics_rig import MetricsRig, samples

RULES = Path(str(files("dingrelay") / "examples" / "prometheus-rules.yml"))
UNIT_TESTS = Path(__file__).with_name("rules_test.yml")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    reason = "promtool is not installed (apt-get install prometheus)"
    if _in_ci():
        pytest.fail(f"{reason}. CI=true: the rules checks must run.", pytrace=False)
    pytest.skip(reason)


def _alerts() -> list[dict[str, str]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_promtool_check_rules_passes_on_the_shipped_rules_file() -> None:
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in r.stdout


def test_each_alert_fires_on_the_series_it_should_and_not_on_the_others() -> None:
    r = subprocess.run([promtool(), "test", "rules", str(UNIT_TESTS)], capture_output=True, text=True, timeout=60,
                       cwd=UNIT_TESTS.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_unit_test_and_the_ones_asked_for_are_there() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    assert (Path(UNIT_TESTS.parent, tests["rule_files"][0]).resolve()) == RULES.resolve()
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    names = {a["alert"] for a in _alerts()}
    assert tested == names
    # dead messages, a paused robot, a stale queue, the worker not ready
    assert {"DingrelayDeadMessages", "DingrelayRobotPaused", "DingrelayQueueStale", "DingrelayWorkerNotReady"} <= names


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_every_metric_the_rules_use_is_in_a_scrape(rig: MetricsRig) -> None:
    used = {name for a in _alerts() for name in re.findall(r"\bdingrelay_[a-z_]+", a["expr"])}
    assert used
    scraped = {name for name, _ in samples(rig.scrape().text)}
    assert used <= scraped, used - scraped


def test_the_rules_file_ships_as_package_data() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["dingrelay"]
    assert any(fnmatch.fnmatch("examples/prometheus-rules.yml", p) for p in patterns), patterns
