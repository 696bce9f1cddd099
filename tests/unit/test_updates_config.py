"""update-watcher config: Update-Watcher files load unchanged; mistakes name file, line, key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pagerbridge.config import ConfigProblems
from pagerbridge.errors import ConfigError
from pagerbridge.updates.config import UnsetVariable, load_watcher_config
from pagerbridge.updates.notifiers.pagerduty import options_from

sys.path.insert(0, str(Path(__file__).parent))
from test_updates_replay import fixture_file

KEY = "0123456789abcdef0123456789abcdef"

ISSUE_CONFIG = """\
hostname: web-prod-01
watchers:
  - type: apt
notifiers:
  - type: pagerduty
    routing_key: ${UPDATE_WATCHER_PAGERDUTY_KEY}
    severity: "warning"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_update_watchers_own_example_loads_unchanged_without_its_secrets(tmp_path: Path) -> None:
    example = fixture_file("update_watcher_config_example.yaml", tmp_path)
    cfg = load_watcher_config(example, environ={})
    assert [w.type for w in cfg.enabled_watchers()] == ["apt"]
    assert cfg.enabled_watchers()[0].options == {"use_sudo": True, "security_only": False}
    assert cfg.enabled_notifiers() == []  # all disabled: their unset ${VARS} are no error
    assert cfg.settings.send_policy == "only-on-updates"
    assert cfg.settings.schedule == "0 7 * * *"
    assert cfg.hostname  # "" means auto-detect


def test_the_issue_shorthand_works(tmp_path: Path) -> None:
    cfg = load_watcher_config(
        write(tmp_path, ISSUE_CONFIG), environ={"UPDATE_WATCHER_PAGERDUTY_KEY": KEY}
    )
    (notifier,) = cfg.enabled_notifiers()
    options = options_from(notifier.options)
    assert (options.routing_key, options.severity) == (KEY, "warning")
    assert options.security_severity == "error"
    assert cfg.hostname == "web-prod-01"


def test_enabled_notifier_with_unset_variable_names_it_and_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_watcher_config(write(tmp_path, ISSUE_CONFIG), environ={})
    assert err.value.line == 6
    assert err.value.key == "notifiers.0.routing_key"
    assert "UPDATE_WATCHER_PAGERDUTY_KEY is not set" in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "config.yaml") + ":6")


def test_default_value_syntax_fills_an_unset_variable(tmp_path: Path) -> None:
    text = ISSUE_CONFIG.replace("${UPDATE_WATCHER_PAGERDUTY_KEY}", "${PD_KEY:-" + KEY + "}")
    cfg = load_watcher_config(write(tmp_path, text), environ={})
    assert options_from(cfg.enabled_notifiers()[0].options).routing_key == KEY


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (ISSUE_CONFIG.replace('"warning"', '"loud"'), 7, "notifiers.0.severity", "info"),
        (ISSUE_CONFIG.replace('"warning"', '"warnng"'), 7, "notifiers.0.severity", "info"),
        (ISSUE_CONFIG + "    sevrity: error\n", 8, "notifiers.0.sevrity", "mean 'severity'?"),
        (
            ISSUE_CONFIG + "    min_prioity: high\n",
            8,
            "notifiers.0.min_prioity",
            "did you mean 'min_priority'?",
        ),
        (
            ISSUE_CONFIG.replace('"warning"', '"warning"\n    options: {region: mars}'),
            8,
            "notifiers.0.options.region",
            "'us' or 'eu'",
        ),
        (
            ISSUE_CONFIG.replace('"warning"', '"warnng"\n    options: {region: eu}'),
            7,
            "notifiers.0.severity",
            "info",
        ),
        (
            ISSUE_CONFIG.replace("type: apt", "type: apt\n    options: {use_sudoo: true}"),
            4,
            "watchers.0.options.use_sudoo",
            "did you mean 'use_sudo'?",
        ),
        (ISSUE_CONFIG.replace("type: apt", "type: macos"), 3, "watchers.0.type", "unknown watcher"),
        (
            ISSUE_CONFIG + "settings:\n  send_polciy: always\n",
            9,
            "settings.send_polciy",
            "did you mean 'send_policy'?",
        ),
        (ISSUE_CONFIG.replace("type: apt", "type: atp"), 3, "watchers.0.type", "mean 'apt'?"),
        (
            ISSUE_CONFIG + "settings:\n  send_policy: sometimes\n",
            9,
            "settings.send_policy",
            "only-on-updates",
        ),
        (
            ISSUE_CONFIG.replace("type: pagerduty", "type: pagerdooty"),
            5,
            "notifiers.0.type",
            "unknown notifier type 'pagerdooty'; did you mean 'pagerduty'?",
        ),
    ],
)
def test_mistakes_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_watcher_config(write(tmp_path, text), environ={"UPDATE_WATCHER_PAGERDUTY_KEY": KEY})
    assert (err.value.line, err.value.key) == (line, key)
    assert message in err.value.message
    assert err.value.file == str(tmp_path / "config.yaml")


def test_short_routing_key_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_watcher_config(
            write(tmp_path, ISSUE_CONFIG), environ={"UPDATE_WATCHER_PAGERDUTY_KEY": "s3cr3t"}
        )
    assert "32 characters" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_watcher_config(write(tmp_path, "watchers: [\n  - type: apt\n"), environ={})
    assert err.value.line is not None
    with pytest.raises(ConfigError, match="not found"):
        load_watcher_config(tmp_path / "nope.yaml", environ={})


def test_apprise_notifier_is_checked_when_enabled(tmp_path: Path) -> None:
    text = "notifiers:\n  - type: webhook\n    options:\n      method: POST\n"
    with pytest.raises(ConfigError) as err:
        load_watcher_config(write(tmp_path, text), environ={})
    assert err.value.key == "notifiers.0.options.url" and "required" in err.value.message
    ok = "notifiers:\n  - type: webhook\n    options:\n      url: http://127.0.0.1:9/hook\n"
    assert load_watcher_config(write(tmp_path, ok), environ={}).enabled_notifiers()


def test_a_missing_key_in_the_shorthand_is_named_as_the_user_would_write_it(
    tmp_path: Path,
) -> None:
    text = ISSUE_CONFIG.replace("    routing_key: ${UPDATE_WATCHER_PAGERDUTY_KEY}\n", "")
    with pytest.raises(ConfigError) as err:
        load_watcher_config(write(tmp_path, text), environ={})
    # The line is the entry's own: the key is missing.
    assert (err.value.key, err.value.line) == ("notifiers.0.routing_key", 5)
    assert str(err.value).startswith(f"{tmp_path / 'config.yaml'}:5 (notifiers.0.routing_key)")


def test_every_problem_in_every_part_is_listed_with_its_line(tmp_path: Path) -> None:
    """Two typos and a wrong type, in the document, a watcher and a notifier: three lines,
    each with file:line; the typos with the nearest known key."""
    text = (
        ISSUE_CONFIG.replace("type: apt", "type: apt\n    options: {use_sudoo: true}")
        + "    sevrity: error\n"
        + "settings:\n  quiet: very\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigProblems) as err:
        load_watcher_config(path, environ={"UPDATE_WATCHER_PAGERDUTY_KEY": KEY})
    assert str(err.value).splitlines() == [
        f"3 problems in {path}:",
        f"  {path}:4 (watchers.0.options.use_sudoo): unknown key 'use_sudoo'; "
        "did you mean 'use_sudo'?",
        f"  {path}:9 (notifiers.0.sevrity): unknown key 'sevrity'; did you mean 'severity'?",
        f"  {path}:11 (settings.quiet): Input should be a valid boolean, unable to interpret input",
    ]


def test_an_unset_variable_among_other_problems_is_still_named_for_install_cron(
    tmp_path: Path,
) -> None:
    text = ISSUE_CONFIG.replace("type: apt", "type: atp")
    with pytest.raises(UnsetVariable) as err:
        load_watcher_config(write(tmp_path, text), environ={})
    assert err.value.variable == "UPDATE_WATCHER_PAGERDUTY_KEY"
    assert isinstance(err.value, ConfigProblems)
    assert [(p.line, p.key) for p in err.value.problems] == [
        (3, "watchers.0.type"),
        (6, "notifiers.0.routing_key"),  # once: not again as the empty key it left
    ]
