"""The importable Zabbix media type (``examples/zabbix-dingrelay-mediatype.yaml``) carries the script users can also
paste (``examples/zabbix-dingrelay.js``) unchanged, and maps to every parameter the Zabbix hook reads the macro the
README names: a parameter renamed on one side only would silently drop a field from the card."""

from __future__ import annotations

from pathlib import Path

import yaml

from dingrelay.adapters.zabbix import ZabbixEvent

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "dingrelay" / "examples"
OWN = {"url", "token", "http_proxy"}   # the script's own parameters, not posted
README = Path(__file__).resolve().parents[2] / "README.md"


def media_type() -> dict[str, object]:
    [only] = yaml.safe_load((EXAMPLES / "zabbix-dingrelay-mediatype.yaml").read_text(encoding="utf-8"))[
        "zabbix_export"]["media_types"]
    return dict(only)


def test_the_importable_media_type_carries_the_script_unchanged() -> None:
    mt = media_type()
    assert (mt["name"], mt["type"]) == ("dingrelay", "WEBHOOK")
    assert mt["script"] == (EXAMPLES / "zabbix-dingrelay.js").read_text(encoding="utf-8")


def test_every_parameter_is_one_the_hook_reads_and_every_field_has_a_parameter() -> None:
    params = {p["name"]: p["value"] for p in media_type()["parameters"]}  # type: ignore[attr-defined]
    assert set(params) - OWN == set(ZabbixEvent.model_fields)
    assert params["event_id"] == "{EVENT.ID}" and params["event_tags"] == "{EVENT.TAGSJSON}"


def test_the_readme_documents_each_parameter_with_its_macro() -> None:
    readme = README.read_text(encoding="utf-8")
    for p in media_type()["parameters"]:  # type: ignore[attr-defined]
        if p["name"] not in OWN:
            assert f"| `{p['name']}` | `{p['value']}` |" in readme, p["name"]
