#!/usr/bin/env python3
"""A disaster-recovery client for API Management backup/restore, written the way teams write one with the
official Azure SDK for Python (azure-mgmt-apimanagement + azure-identity), and used unmodified: armsim is
reached only through the knobs the SDK documents — a custom ARM endpoint (``base_url``), an authority host
with instance discovery off, and a CA bundle (``REQUESTS_CA_BUNDLE``).

It deliberately adds nothing to the SDK's long-running-operation handling: whatever the SDK calls success
(including a 200 on a Location URL whatever its body) is reported as success, so armsim's harness judges
the official client, not a patched one.

Configuration comes only from the environment (the armsim client contract):

  ARMSIM_ENDPOINT          ARM base URL, e.g. https://127.0.0.1:8443
  ARMSIM_SUBSCRIPTION_ID   ARMSIM_RESOURCE_GROUP   ARMSIM_SERVICE_NAME
  ARMSIM_OPERATION         backup | restore
  ARMSIM_STORAGE_ACCOUNT   ARMSIM_STORAGE_KEY   ARMSIM_CONTAINER   ARMSIM_BACKUP_NAME
  AZURE_TENANT_ID  AZURE_CLIENT_ID  AZURE_CLIENT_SECRET  AZURE_AUTHORITY_HOST
                           a service principal and the simulator's identity endpoints (preferred)
  ARMSIM_TOKEN             a bearer token, used only when AZURE_CLIENT_SECRET is not set
  REQUESTS_CA_BUNDLE       the simulator's CA certificate (defaults to ARMSIM_CA_CERT when unset)
  ARMSIM_POLL_INTERVAL     optional polling interval in seconds when the service sends no Retry-After
                           (the SDK's default is 30 s)

Output: one JSON line on stdout.
  success  {"outcome":"succeeded","provisioningState":...,"name":...}                 exit 0
  failure  {"outcome":"failed","code":"<ARM error code>","message":...}               exit 1
           and the code alone on stderr
  bad configuration: the same failure line with code "ClientConfigurationError",      exit 2
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

USAGE_EXIT = 2
CONFIG_ERROR = "ClientConfigurationError"
# The scope ARM tokens are asked for; the SDK's own default, spelled out so the static-token path matches.
ARM_SCOPE = "https://management.azure.com/.default"


class ConfigError(Exception):
    """The environment does not describe a run; nothing was sent."""


def emit(record: dict) -> None:
    print(json.dumps(record, separators=(",", ":")), flush=True)


def fail(code: str, message: str, exit_code: int = 1) -> int:
    emit({"outcome": "failed", "code": code, "message": message})
    print(code, file=sys.stderr, flush=True)
    return exit_code


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


class StaticTokenCredential:
    """A credential that hands out one bearer token it was given (ARMSIM_TOKEN).

    azure-core accepts any object with ``get_token``; the token is reported as valid for an hour so the
    bearer policy does not ask for it again on every request. It cannot be refreshed: a run whose token
    expires fails, which is what a client that caches a token forever deserves.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)


def make_credential():
    secret = os.environ.get("AZURE_CLIENT_SECRET", "")
    if secret:
        from azure.identity import ClientSecretCredential

        options = {"disable_instance_discovery": True}
        authority = os.environ.get("AZURE_AUTHORITY_HOST", "")
        if authority:
            options["authority"] = authority
        return ClientSecretCredential(
            required("AZURE_TENANT_ID"), required("AZURE_CLIENT_ID"), secret, **options
        )
    token = os.environ.get("ARMSIM_TOKEN", "")
    if token:
        return StaticTokenCredential(token)
    raise ConfigError("set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or ARMSIM_TOKEN")


def poll_interval() -> dict:
    raw = os.environ.get("ARMSIM_POLL_INTERVAL", "")
    if not raw:
        return {}
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"ARMSIM_POLL_INTERVAL must be a number of seconds, not {raw!r}") from None
    if seconds < 0:
        raise ConfigError(f"ARMSIM_POLL_INTERVAL must not be negative, not {raw!r}")
    return {"polling_interval": seconds}


def error_code(exc: Exception) -> tuple[str, str]:
    """The ARM error code and message carried by an SDK exception, else its Azure AD error number, else the
    exception's own name.

    HttpResponseError parses the ARM error body (``{"error":{"code","message"}}``) into ``.error`` for an
    initial-request failure, a 4xx/5xx on a poll and an Azure-AsyncOperation ``Failed`` status alike. A
    token request refused by the identity endpoints surfaces as ClientAuthenticationError whose message
    carries the ``AADSTS…`` number, the same code the CLI client reports.
    """
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code:
        return str(code), str(message or exc)
    message = str(getattr(exc, "message", None) or exc)
    aad = re.search(r"\b(AADSTS\d+)\b", message)
    return (aad.group(1) if aad else type(exc).__name__), message


def run() -> int:
    try:
        endpoint = required("ARMSIM_ENDPOINT")
        operation = required("ARMSIM_OPERATION").lower()
        if operation not in ("backup", "restore"):
            raise ConfigError(f"ARMSIM_OPERATION must be backup or restore, not {operation!r}")
        subscription = required("ARMSIM_SUBSCRIPTION_ID")
        resource_group = required("ARMSIM_RESOURCE_GROUP")
        service = required("ARMSIM_SERVICE_NAME")
        storage_account = required("ARMSIM_STORAGE_ACCOUNT")
        storage_key = required("ARMSIM_STORAGE_KEY")
        container = required("ARMSIM_CONTAINER")
        backup_name = required("ARMSIM_BACKUP_NAME")
        interval = poll_interval()
        # requests reads the bundle from the environment on every call, for the SDK and for MSAL alike.
        ca_cert = os.environ.get("ARMSIM_CA_CERT", "")
        if ca_cert and not os.environ.get("REQUESTS_CA_BUNDLE"):
            os.environ["REQUESTS_CA_BUNDLE"] = ca_cert
        credential = make_credential()
    except ConfigError as exc:
        return fail(CONFIG_ERROR, str(exc), USAGE_EXIT)

    from azure.mgmt.apimanagement import ApiManagementClient
    from azure.mgmt.apimanagement.models import ApiManagementServiceBackupRestoreParameters

    client = ApiManagementClient(credential, subscription, base_url=endpoint, **interval)
    parameters = ApiManagementServiceBackupRestoreParameters(
        storage_account=storage_account,
        container_name=container,
        backup_name=backup_name,
        access_type="AccessKey",
        access_key=storage_key,
    )
    services = client.api_management_service
    begin = services.begin_backup if operation == "backup" else services.begin_restore
    try:
        result = begin(resource_group, service, parameters).result()
    except Exception as exc:  # every SDK, identity and transport failure is a failed run
        code, message = error_code(exc)
        return fail(code, message)
    finally:
        client.close()

    emit(
        {
            "outcome": "succeeded",
            "provisioningState": getattr(result, "provisioning_state", None),
            "name": getattr(result, "name", None),
        }
    )
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        if argv[1] in ("-h", "--help"):
            print(__doc__)
            return 0
        print(f"usage: {argv[0]} [--help]  (configuration comes from the environment)", file=sys.stderr)
        return USAGE_EXIT
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
