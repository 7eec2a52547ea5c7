"""Temporal is reached the way its SDK documents (temporalio.envconfig): a profile from a
TOML file, the TEMPORAL_* variables over it, ONETHING_TEMPORAL_* over both; and a real
connection through a profile keeps the product's sealed data converter."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from deploy.settings import Settings
from deploy.temporal import connect, connect_config
from kernel.codec import EncryptionCodec, format_key, generate_key

PROFILES = """
[profile.default]
address = "127.0.0.1:7999"

[profile.city]
address = "temporal.city.example:7233"
namespace = "wuxi-bundles"
api_key = "from-the-file"

[profile.city.tls]
server_name = "temporal.city.example"
"""


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path / "state"), **env})


def test_a_profile_file_and_temporal_variables_make_the_connect_config(tmp_path: Path) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(PROFILES)
    chosen = settings(tmp_path, TEMPORAL_CONFIG_FILE=str(config_file), TEMPORAL_PROFILE="city",
                      TEMPORAL_API_KEY="from-the-environment")
    config = connect_config(chosen)
    assert config["target_host"] == "temporal.city.example:7233"
    assert config["namespace"] == "wuxi-bundles"
    assert config["api_key"] == "from-the-environment"  # the variable wins over the file
    tls = config["tls"]
    assert isinstance(tls, TLSConfig) and tls.domain == "temporal.city.example"
    assert chosen.temporal_address == "temporal.city.example:7233"
    assert not chosen.embedded  # a remote Temporal: a part of a cluster makes no keys

    # The default profile, the namespace from TEMPORAL_NAMESPACE, TLS from TEMPORAL_TLS_*.
    plain = connect_config(settings(
        tmp_path, TEMPORAL_CONFIG_FILE=str(config_file), TEMPORAL_NAMESPACE="province",
        TEMPORAL_TLS="true", TEMPORAL_TLS_SERVER_NAME="temporal.province.example"))
    assert plain["target_host"] == "127.0.0.1:7999"
    assert plain["namespace"] == "province"
    assert "api_key" not in plain
    assert isinstance(plain["tls"], TLSConfig)
    assert plain["tls"].domain == "temporal.province.example"

    # The product's older variables still win, over the file and TEMPORAL_* alike.
    overridden = connect_config(settings(
        tmp_path, TEMPORAL_CONFIG_FILE=str(config_file), TEMPORAL_PROFILE="city",
        TEMPORAL_ADDRESS="elsewhere:7233", ONETHING_TEMPORAL_ADDRESS="10.0.0.5:7233",
        ONETHING_TEMPORAL_NAMESPACE="onething"))
    assert (overridden["target_host"], overridden["namespace"]) == ("10.0.0.5:7233", "onething")


def test_nothing_configured_is_the_local_embedded_default(tmp_path: Path) -> None:
    local = settings(tmp_path, TEMPORAL_CONFIG_FILE=str(tmp_path / "none.toml"))
    config = connect_config(local)
    assert (config["target_host"], config["namespace"]) == ("127.0.0.1:7233", "default")
    assert "tls" not in config and "api_key" not in config
    assert local.embedded


def test_a_missing_profile_is_refused_by_name(tmp_path: Path) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(PROFILES)
    with pytest.raises(Exception, match="nowhere"):
        settings(tmp_path, TEMPORAL_CONFIG_FILE=str(config_file), TEMPORAL_PROFILE="nowhere")


async def test_a_profile_connects_to_the_real_server_with_the_sealed_converter(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(f'[profile.local]\naddress = "{address}"\nnamespace = "default"\n'
                           '[profile.local.tls]\ndisabled = true\n')
    key = format_key("profile-test", generate_key())
    client = await connect(settings(tmp_path, TEMPORAL_CONFIG_FILE=str(config_file),
                                    TEMPORAL_PROFILE="local", ONETHING_PAYLOAD_KEYS=key))
    assert client.service_client.config.target_host == address
    assert client.namespace == "default"
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default"))
    assert described.namespace_info.name == "default"
