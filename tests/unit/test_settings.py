from pathlib import Path

import orjson
import pytest

from cohortstream.settings import Settings, SettingsError


def test_defaults_put_chdb_under_the_state_dir(tmp_path):
    settings = Settings.load({"COHORTSTREAM_STATE_DIR": str(tmp_path)})
    assert settings.clickhouse_url == f"chdb://{(tmp_path / 'chdb').resolve()}"
    assert settings.web_port == 6066
    assert settings.events_topic == "events"


def test_precedence_env_over_file_over_stack(tmp_path, monkeypatch):
    (tmp_path / "stack.json").write_bytes(
        orjson.dumps(
            {
                "settings": {
                    "kafka_broker": "stack:1",
                    "redis_url": "redis://stack",
                    "database_url": "pg://stack",
                }
            }
        )
    )
    settings_file = tmp_path / "cs.toml"
    settings_file.write_text('kafka_broker = "file:2"\nredis_url = "redis://file"\n')
    settings = Settings.load(
        {
            "COHORTSTREAM_STATE_DIR": str(tmp_path),
            "COHORTSTREAM_SETTINGS": str(settings_file),
            "KAFKA_BROKER": "env:3",
            "WEB_PORT": "7000",
            "SINK_FLUSH_SECONDS": "0.5",
        }
    )
    assert settings.kafka_broker == "env:3"
    assert settings.redis_url == "redis://file"
    assert settings.database_url == "pg://stack"
    assert settings.web_port == 7000
    assert settings.sink_flush_seconds == 0.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEB_PORT": "http"}, "WEB_PORT"),
        ({"TOPIC_PARTITIONS": "0"}, "TOPIC_PARTITIONS"),
        ({"CLICKHOUSE_URL": "mysql://x"}, "CLICKHOUSE_URL"),
        ({"SINK_BATCH_ROWS": "0"}, "SINK_BATCH_ROWS"),
        ({"REQUIRE_REGISTERED_PROJECT": "maybe"}, "REQUIRE_REGISTERED_PROJECT"),
        ({"LATE_CORRECTIONS_WITHIN_S": "-1"}, "LATE_CORRECTIONS_WITHIN_S"),
        ({"LATE_CORRECTIONS_WITHIN_S": "604801"}, "LATE_CORRECTIONS_WITHIN_S"),
        ({"HEALTH_REBALANCE_STALL_S": "60"}, "HEALTH_REBALANCE_STALL_S"),
        ({"COHORTSTREAM_SETTINGS": "/nonexistent.toml"}, "COHORTSTREAM_SETTINGS"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path, env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.load({"COHORTSTREAM_STATE_DIR": str(tmp_path), **env})


def test_unknown_setting_in_file_is_an_error(tmp_path):
    path = tmp_path / "cs.toml"
    path.write_text("kafka_brokr = 'x'\n")
    with pytest.raises(SettingsError, match="kafka_brokr"):
        Settings.load({"COHORTSTREAM_STATE_DIR": str(tmp_path), "COHORTSTREAM_SETTINGS": str(path)})


def test_corrupt_stack_file_is_a_clear_error(tmp_path):
    (tmp_path / "stack.json").write_text("{nope")
    with pytest.raises(SettingsError, match="cohortstream down"):
        Settings.load({"COHORTSTREAM_STATE_DIR": str(tmp_path)})


def test_state_dir_only_moves_by_env(tmp_path):
    assert Settings.load_for(Path(tmp_path)).state_dir == Path(tmp_path)


def test_booleans_parse_from_text(tmp_path):
    base = {"COHORTSTREAM_STATE_DIR": str(tmp_path)}
    assert Settings.load(base).require_registered_project is True
    for text, value in (("false", False), ("0", False), ("off", False), ("TRUE", True)):
        loaded = Settings.load({**base, "REQUIRE_REGISTERED_PROJECT": text})
        assert loaded.require_registered_project is value


def test_tables_default_to_rocksdb_and_the_store_and_log_format_are_checked(tmp_path):
    base = {"COHORTSTREAM_STATE_DIR": str(tmp_path)}
    assert Settings.load(base).table_store == "rocksdb"
    assert Settings.load({**base, "TABLE_STORE": "memory"}).table_store == "memory"
    with pytest.raises(SettingsError, match="TABLE_STORE='redis'"):
        Settings.load({**base, "TABLE_STORE": "redis"})
    with pytest.raises(SettingsError, match="LOG_FORMAT='xml'"):
        Settings.load({**base, "LOG_FORMAT": "xml"})


def test_rocksdb_memory_is_one_budget_and_the_per_partition_setting_is_refused(tmp_path):
    base = {"COHORTSTREAM_STATE_DIR": str(tmp_path)}
    assert Settings.load({**base, "ROCKSDB_MEMORY_MB": "256"}).rocksdb_memory_mb == 256
    with pytest.raises(SettingsError, match=r"ROCKSDB_BLOCK_CACHE_MB is gone.*ROCKSDB_MEMORY_MB"):
        Settings.load({**base, "ROCKSDB_BLOCK_CACHE_MB": "8"})
    settings_file = tmp_path / "cohortstream.toml"
    settings_file.write_text("rocksdb_block_cache_mb = 8\n")
    with pytest.raises(SettingsError, match="ROCKSDB_BLOCK_CACHE_MB is gone"):
        Settings.load({**base, "COHORTSTREAM_SETTINGS": str(settings_file)})
    with pytest.raises(SettingsError, match="ROCKSDB_MEMORY_MB at least twice"):
        Settings.load({**base, "ROCKSDB_MEMORY_MB": "6", "ROCKSDB_WRITE_BUFFER_MB": "4"})
