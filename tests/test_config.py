"""Configuration: service URLs from the environment, registered services, numbers."""

from __future__ import annotations

import json

import pytest

from bioshare import config
from bioshare.repositories.registry import DEFAULT_REPOSITORIES, default_repositories


def test_environment_overrides_the_defaults(monkeypatch):
    assert config.service_url("zenodo") == "https://zenodo.org"
    monkeypatch.setenv("BIOSHARE_ZENODO_URL", "http://127.0.0.1:9/")
    assert config.service_url("zenodo") == "http://127.0.0.1:9"
    with pytest.raises(KeyError, match="unknown service 'nowhere'; expected one of"):
        config.service_url("nowhere")


def test_a_registered_service_is_found_by_other_processes(monkeypatch):
    monkeypatch.delenv("BIOSHARE_LOCAL_URL", raising=False)
    assert default_repositories() == list(DEFAULT_REPOSITORIES)
    with config.registered_service("local", "http://127.0.0.1:8123/"):
        assert config.service_url("local") == "http://127.0.0.1:8123"
        assert default_repositories() == [*DEFAULT_REPOSITORIES, "local"]
        path = config.cache_dir() / "services.json"
        assert json.loads(path.read_text()) == {"local": "http://127.0.0.1:8123"}
        monkeypatch.setenv("BIOSHARE_LOCAL_URL", "http://127.0.0.1:9")
        assert config.service_url("local") == "http://127.0.0.1:9"  # the environment wins
    assert config.registered_services() == {}
    monkeypatch.delenv("BIOSHARE_LOCAL_URL")
    assert config.service_url("local") == config.DEFAULT_URLS["local"]


def test_unregistering_leaves_a_newer_registration_alone():
    config.register_service("local", "http://127.0.0.1:1")
    config.register_service("local", "http://127.0.0.1:2")  # a second demo took over
    config.unregister_service("local", "http://127.0.0.1:1")
    assert config.registered_services() == {"local": "http://127.0.0.1:2"}
    config.unregister_service("local")
    assert config.registered_services() == {}


def test_a_damaged_registry_is_ignored():
    path = config.cache_dir() / "services.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert config.registered_services() == {}
    config.register_service("local", "http://127.0.0.1:3")
    assert config.registered_services() == {"local": "http://127.0.0.1:3"}


def test_numbers_from_the_environment(monkeypatch):
    monkeypatch.setenv("BIOSHARE_TIMEOUT", "2.5")
    monkeypatch.setenv("BIOSHARE_RETRIES", "1")
    assert config.timeout() == 2.5
    assert config.retries() == 1
    monkeypatch.setenv("BIOSHARE_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="BIOSHARE_TIMEOUT='soon' is not a number"):
        config.timeout()
