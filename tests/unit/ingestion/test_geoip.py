"""GeoIP on known addresses of the shipped GeoLite2-City database."""

import orjson
import pytest

from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.geoip import GeoIpLookup, enrich_geoip
from cohortstream.ingestion.route import route_message
from cohortstream.settings import Settings


@pytest.fixture(scope="module")
def lookup():
    return GeoIpLookup()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (
            "89.160.20.112",
            {
                "$geoip_country_code": "SE",
                "$geoip_country_name": "Sweden",
                "$geoip_city_name": "Stockholm",
                "$geoip_subdivision_1_code": "AB",
                "$geoip_continent_code": "EU",
                "$geoip_postal_code": "173 11",
                "$geoip_time_zone": "Europe/Stockholm",
            },
        ),
        (
            "81.2.69.142",
            {
                "$geoip_country_code": "GB",
                "$geoip_city_name": "Willesden",
                "$geoip_subdivision_1_code": "ENG",
                "$geoip_postal_code": "NW10",
                "$geoip_time_zone": "Europe/London",
            },
        ),
        (
            "2001:4860:4860::8888",
            {
                "$geoip_country_code": "US",
                "$geoip_city_name": "Mountain View",
                "$geoip_subdivision_1_code": "CA",
                "$geoip_continent_code": "NA",
            },
        ),
        (
            "175.16.199.1",
            {
                "$geoip_country_code": "CN",
                "$geoip_city_name": "Changchun",
                "$geoip_continent_code": "AS",
            },
        ),
    ],
)
def test_known_addresses(lookup, address, expected):
    properties, warnings = enrich_geoip({"a": 1}, address, lookup)
    assert warnings == []
    assert properties["a"] == 1
    for key, value in expected.items():
        assert properties[key] == value, key
    assert isinstance(properties["$geoip_latitude"], float)
    assert isinstance(properties["$geoip_longitude"], float)


def test_missing_fields_are_left_out_not_null(lookup):
    properties, _ = enrich_geoip({}, "8.8.8.8", lookup)  # a country, no city
    assert properties["$geoip_country_code"] == "US"
    assert "$geoip_city_name" not in properties
    assert None not in properties.values()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "::1", "192.168.0.1"])
def test_private_and_unknown_addresses_add_nothing(lookup, address):
    assert enrich_geoip({"a": 1}, address, lookup) == ({"a": 1}, [])


@pytest.mark.parametrize("address", ["not-an-ip", "999.1.1.1", 42, ""])
def test_malformed_addresses_are_warnings(lookup, address):
    properties, warnings = enrich_geoip({"$ip": address}, None, lookup)
    assert properties == {"$ip": address}
    assert [w.code for w in warnings] == ["invalid_ip"]


def test_ip_property_is_used_when_the_event_has_none(lookup):
    properties, _ = enrich_geoip({"$ip": "89.160.20.112"}, None, lookup)
    assert properties["$geoip_city_name"] == "Stockholm"


def test_geoip_disable_skips_lookup(lookup):
    original = {"$geoip_disable": True}
    assert enrich_geoip(original, "89.160.20.112", lookup) == (original, [])


def test_lookups_are_cached(lookup):
    lookup.lookup.cache_clear()
    for _ in range(3):
        enrich_geoip({}, "89.160.20.112", lookup)
    info = lookup.lookup.cache_info()
    assert (info.hits, info.misses) == (2, 1)


def test_the_pipeline_enriches_and_records_bad_addresses(lookup):
    config = IngestConfig(geoip=lookup)
    good = route_message(
        orjson.dumps({"event": "a", "distinct_id": "d", "project_id": 1, "ip": "89.160.20.112"}),
        b"1:d",
        1_772_366_400_000,
        config,
    )
    assert good.accepted[0]["properties"]["$geoip_country_code"] == "SE"
    assert good.accepted[0]["properties"]["$ip"] == "89.160.20.112"
    bad = route_message(
        orjson.dumps(
            {"event": "a", "distinct_id": "d", "project_id": 1, "properties": {"$ip": "n/a"}}
        ),
        b"1:d",
        1_772_366_400_000,
        config,
    )
    assert [w["code"] for w in bad.accepted[0]["warnings"]] == ["invalid_ip"]


def test_settings_choose_the_database(tmp_path):
    base = {"COHORTSTREAM_STATE_DIR": str(tmp_path)}
    assert IngestConfig.from_settings(Settings.load(base)).geoip is not None
    assert (
        IngestConfig.from_settings(Settings.load({**base, "GEOIP_DATABASE": "off"})).geoip is None
    )
    with pytest.raises(FileNotFoundError, match="GEOIP_DATABASE"):
        IngestConfig.from_settings(Settings.load({**base, "GEOIP_DATABASE": "/no/such.mmdb"}))
