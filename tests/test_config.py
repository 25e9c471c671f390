from pathlib import Path

import pytest

from pipeline.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_is_valid_and_matches_defaults():
    assert load_settings(ROOT / "configs" / "default.yaml") == Settings()


def test_unknown_key_names_the_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("summarize:\n  sentense: 4\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "summarize.sentense" in str(err.value)
    assert "unknown key" in str(err.value)


def test_bad_value_names_the_key_and_value(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("translate:\n  backend: deepl\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "translate.backend" in str(err.value) and "deepl" in str(err.value)


def test_not_yaml_mapping(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(cfg)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")
