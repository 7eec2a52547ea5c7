"""Where Temporal is and how to reach it, read the way the SDK documents
(`temporalio.envconfig`): a profile from a TOML file and the standard TEMPORAL_*
variables, with the product's older ONETHING_TEMPORAL_* overrides over them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from temporalio.envconfig import ClientConfigProfile

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
# The product's own overrides, older than the SDK's variables: they win over a profile and
# over TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE.
ADDRESS_OVERRIDE = "ONETHING_TEMPORAL_ADDRESS"
NAMESPACE_OVERRIDE = "ONETHING_TEMPORAL_NAMESPACE"


def load_profile(env: Mapping[str, str]) -> ClientConfigProfile:
    """The Temporal client profile: the TOML file (TEMPORAL_CONFIG_FILE, else the SDK's
    default location), its profile (TEMPORAL_PROFILE, else "default"), then the TEMPORAL_*
    variables over it (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, ...), then ONETHING_TEMPORAL_ADDRESS and
    ONETHING_TEMPORAL_NAMESPACE over both. Unset address and namespace take the local
    defaults (127.0.0.1:7233, "default")."""
    profile = ClientConfigProfile.load(override_env_vars=dict(env))
    return dataclasses.replace(
        profile,
        address=env.get(ADDRESS_OVERRIDE) or profile.address or DEFAULT_ADDRESS,
        namespace=env.get(NAMESPACE_OVERRIDE) or profile.namespace or DEFAULT_NAMESPACE,
    )


def configured_remotely(env: Mapping[str, str], profile: ClientConfigProfile) -> bool:
    """Whether this start was given a Temporal address (ONETHING_TEMPORAL_ADDRESS, or
    another than the local default by the profile or TEMPORAL_ADDRESS): such a part is
    one of a cluster."""
    return bool(env.get(ADDRESS_OVERRIDE)) or profile.address != DEFAULT_ADDRESS
