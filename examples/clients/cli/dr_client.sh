#!/usr/bin/env bash
# A disaster-recovery client for API Management backup/restore built on the Azure CLI, used unmodified and
# fully offline: armsim is registered as a cloud of its own, the CLI logs in to armsim's identity endpoints
# with a service principal, and `az apim backup|restore` runs against it. The recipe is the one recorded in
# shared/reference/CLIENTS.md §3.
#
# Configuration comes only from the environment (the armsim client contract):
#   ARMSIM_ENDPOINT, ARMSIM_SUBSCRIPTION_ID, ARMSIM_RESOURCE_GROUP, ARMSIM_SERVICE_NAME,
#   ARMSIM_OPERATION (backup | restore), ARMSIM_STORAGE_ACCOUNT, ARMSIM_STORAGE_KEY, ARMSIM_CONTAINER,
#   ARMSIM_BACKUP_NAME, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST,
#   REQUESTS_CA_BUNDLE (the simulator's CA certificate; defaults to ARMSIM_CA_CERT when unset).
# The CLI cannot log in with a raw access token, so ARMSIM_TOKEN alone is not enough; and it has no polling
# interval option, so ARMSIM_POLL_INTERVAL is ignored (the SDK inside it polls every 30 s without Retry-After).
# ARMSIM_AZ names the az to run (default: examples/clients/cli/.venv/bin/az, else az on PATH).
#
# Output: one JSON line on stdout.
#   success  {"outcome":"succeeded","provisioningState":...,"name":...}                exit 0
#   failure  {"outcome":"failed","code":"<ARM error code>","message":...}              exit 1
#            and the code alone on stderr; the CLI's `ERROR: (Code) message` output is mapped onto it
#   bad configuration: the same failure line with code "ClientConfigurationError",     exit 2
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -gt 0 ]]; then
    case "$1" in
        -h | --help)
            sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            echo "usage: $0 [--help]  (configuration comes from the environment)" >&2
            exit 2
            ;;
    esac
fi

# The interpreter that turns the CLI's output into the JSON line: the CLI's own Python when it is ours
# (so nothing beyond the CLI's venv is needed), else any python3.
az="${ARMSIM_AZ:-$here/.venv/bin/az}"
if [[ ! -x "$az" ]]; then
    az="$(command -v az || true)"
fi
py="$(dirname "${az:-/nonexistent}")/python3"
[[ -x "$py" ]] || py="$(command -v python3 || true)"

# report KIND [STEP STDOUT_FILE STDERR_FILE | CODE MESSAGE]: print the JSON line and the code, return the
# exit status. KIND is success, failure (parse the CLI's output of STEP) or config.
report() {
    if [[ -z "$py" ]]; then
        echo "dr_client.sh: no python3 to format the result with" >&2
        return 2
    fi
    "$py" - "$@" <<'PY'
import json, re, sys

kind = sys.argv[1]

def line(record):
    print(json.dumps(record, separators=(",", ":")), flush=True)

def failed(code, message, status):
    line({"outcome": "failed", "code": code, "message": message})
    print(code, file=sys.stderr, flush=True)
    sys.exit(status)

if kind == "config":
    failed(sys.argv[2], sys.argv[3], 2)

step, out_path, err_path = sys.argv[2:5]
out = open(out_path, encoding="utf-8", errors="replace").read()
err = open(err_path, encoding="utf-8", errors="replace").read()

if kind == "success":
    resource = json.loads(out) if out.strip() else None
    resource = resource if isinstance(resource, dict) else {}
    line({"outcome": "succeeded", "provisioningState": resource.get("provisioningState"),
          "name": resource.get("name")})
    sys.exit(0)

# The CLI prints an SDK HttpResponseError as
#   ERROR: (RestoreFailed) Cannot restore: backup expired
#   Code: RestoreFailed
#   Message: Cannot restore: backup expired
# and other failures as `ERROR: <text>`, an Azure AD one with its AADSTS number in the text.
# An unexpected exception is printed as `ERROR: The command failed with an unexpected error. Here is the
# traceback:` and the traceback; its last `SomeError: text` line says what happened.
lines = err.splitlines()
errors = [l[len("ERROR: "):] for l in lines if l.startswith("ERROR: ")]
first = errors[0] if errors else next((l for l in reversed(lines) if l.strip()), "")
if first.endswith("traceback:"):
    raised = [l for l in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\w*: ", l)]
    first = raised[-1] if raised else first
code_line = re.search(r"^Code: (\S+)\s*$", err, re.M)
message_line = re.search(r"^Message: (.*)$", err, re.M)
arm = re.match(r"^\(([^)\s]+)\) (.*)$", first)
aad = re.search(r"\b(AADSTS\d+)\b", err)
if code_line:
    code = code_line.group(1)
    message = message_line.group(1) if message_line else (arm.group(2) if arm else first)
elif arm:
    code, message = arm.group(1), arm.group(2)
elif aad:
    code, message = aad.group(1), first
else:
    code, message = "AzCli" + step, first or f"az {step} failed with no output"
failed(code, message.strip(), 1)
PY
}

config_error() {
    report config ClientConfigurationError "$1"
    exit $?
}

for name in ARMSIM_ENDPOINT ARMSIM_SUBSCRIPTION_ID ARMSIM_RESOURCE_GROUP ARMSIM_SERVICE_NAME ARMSIM_OPERATION \
    ARMSIM_STORAGE_ACCOUNT ARMSIM_STORAGE_KEY ARMSIM_CONTAINER ARMSIM_BACKUP_NAME \
    AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_AUTHORITY_HOST; do
    [[ -n "${!name:-}" ]] || config_error "environment variable $name is not set"
done
if [[ -z "${AZURE_CLIENT_SECRET:-}" ]]; then
    config_error "AZURE_CLIENT_SECRET is not set: the Azure CLI can only log in to armsim with a service principal, not with ARMSIM_TOKEN"
fi
operation="${ARMSIM_OPERATION,,}"
[[ "$operation" == backup || "$operation" == restore ]] \
    || config_error "ARMSIM_OPERATION must be backup or restore, not '$ARMSIM_OPERATION'"
[[ -n "$az" ]] || config_error "no az: run scripts/install-clients.sh cli, or set ARMSIM_AZ"

# requests, and so the CLI and MSAL, trust the simulator through this bundle.
if [[ -z "${REQUESTS_CA_BUNDLE:-}" && -n "${ARMSIM_CA_CERT:-}" ]]; then
    export REQUESTS_CA_BUNDLE="$ARMSIM_CA_CERT"
fi

# A private, throwaway CLI profile: the cloud, the login and the token cache never touch ~/.azure, and
# parallel runs never see each other.
work="$(mktemp -d "${TMPDIR:-/tmp}/armsim-az.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export AZURE_CONFIG_DIR="$work/config"
mkdir -p "$AZURE_CONFIG_DIR"
# Nothing may phone home: no telemetry upload, no survey prompt, no dynamic extension install.
export AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_SURVEY_MESSAGE=false \
    AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no AZURE_CORE_NO_COLOR=true

# step NAME ARGS...: run `az ARGS...`, keeping its output; on failure report it and exit.
step() {
    local name="$1"
    shift
    if ! "$az" "$@" >"$work/out" 2>"$work/err"; then
        report failure "$name" "$work/out" "$work/err"
        exit $?
    fi
}

arm="${ARMSIM_ENDPOINT%/}/"
authority="${AZURE_AUTHORITY_HOST%/}"

# Instance discovery off: otherwise MSAL asks login.microsoftonline.com whether the authority is known.
step Config config set core.instance_discovery=false core.collect_telemetry=false core.survey_message=false \
    --only-show-errors
# --skip-endpoint-discovery: the three endpoints below are all the CLI needs, and flags win over discovered
# values anyway; discovery would only add a GET of {ARM}/metadata/endpoints that changes nothing.
step CloudRegister cloud register --name armsim --skip-endpoint-discovery \
    --endpoint-resource-manager "$arm" \
    --endpoint-active-directory "$authority" \
    --endpoint-active-directory-resource-id https://management.core.windows.net/ \
    --only-show-errors
step CloudSet cloud set --name armsim --only-show-errors
# Lists GET {ARM}/subscriptions, so --subscription below can name the armsim subscription.
step Login login --service-principal --username "$AZURE_CLIENT_ID" --password "$AZURE_CLIENT_SECRET" \
    --tenant "$AZURE_TENANT_ID" --output none --only-show-errors
step "Apim${operation^}" apim "$operation" \
    --subscription "$ARMSIM_SUBSCRIPTION_ID" \
    --resource-group "$ARMSIM_RESOURCE_GROUP" --name "$ARMSIM_SERVICE_NAME" \
    --backup-name "$ARMSIM_BACKUP_NAME" \
    --storage-account-name "$ARMSIM_STORAGE_ACCOUNT" --storage-account-key "$ARMSIM_STORAGE_KEY" \
    --storage-account-container "$ARMSIM_CONTAINER" \
    --output json --only-show-errors
report success "Apim${operation^}" "$work/out" "$work/err"
