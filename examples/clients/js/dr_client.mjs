#!/usr/bin/env node
// A disaster-recovery client for API Management backup/restore, written the way teams write one with the
// official Azure SDK for JavaScript (@azure/arm-apimanagement + @azure/identity), and used unmodified: armsim
// is reached only through the options the SDK documents — a custom `endpoint` (with the ARM scope kept, since
// the SDK would otherwise ask for `${endpoint}/.default`), an `authorityHost` with instance discovery off,
// and a CA certificate in NODE_EXTRA_CA_CERTS.
//
// It adds nothing to the SDK's long-running-operation handling: whatever the SDK calls success (including a
// 200 on a Location URL whatever its body) is reported as success, so armsim's harness judges the official
// client, not a patched one.
//
// Configuration comes only from the environment (the armsim client contract):
//   ARMSIM_ENDPOINT, ARMSIM_SUBSCRIPTION_ID, ARMSIM_RESOURCE_GROUP, ARMSIM_SERVICE_NAME,
//   ARMSIM_OPERATION (backup | restore), ARMSIM_STORAGE_ACCOUNT, ARMSIM_STORAGE_KEY, ARMSIM_CONTAINER,
//   ARMSIM_BACKUP_NAME;
//   AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST (preferred), or
//   ARMSIM_TOKEN (a bearer token, used only when AZURE_CLIENT_SECRET is not set);
//   NODE_EXTRA_CA_CERTS = the simulator's CA certificate — Node reads it only at process start, so it must be
//   in the environment that starts this script;
//   ARMSIM_POLL_INTERVAL (optional, seconds) → updateIntervalInMs (the SDK's default is 2 s).
//
// Output: one JSON line on stdout.
//   success  {"outcome":"succeeded","provisioningState":...,"name":...}                exit 0
//   failure  {"outcome":"failed","code":"<ARM error code>","message":...}              exit 1
//            and the code alone on stderr
//   bad configuration: the same failure line with code "ClientConfigurationError",     exit 2

import { ApiManagementClient } from "@azure/arm-apimanagement";
import { ClientSecretCredential } from "@azure/identity";
import { readFile } from "node:fs/promises";

const USAGE_EXIT = 2;
const CONFIG_ERROR = "ClientConfigurationError";
// The scope ARM tokens are asked for. Without it the SDK derives `${endpoint}/.default` from the custom
// endpoint, which no real Azure AD would issue and armsim's strict mode need not accept.
const ARM_SCOPE = "https://management.azure.com/.default";

class ConfigError extends Error {}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

function fail(code, message, exitCode = 1) {
  emit({ outcome: "failed", code, message });
  process.stderr.write(code + "\n");
  return exitCode;
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

// One bearer token handed in from outside (ARMSIM_TOKEN). It cannot be refreshed: a run whose token expires
// fails, which is what a client that caches a token forever deserves.
class StaticTokenCredential {
  constructor(token) {
    this.token = token;
  }
  async getToken() {
    return { token: this.token, expiresOnTimestamp: Date.now() + 3600 * 1000 };
  }
}

function makeCredential() {
  const secret = process.env.AZURE_CLIENT_SECRET;
  if (secret) {
    const options = { disableInstanceDiscovery: true };
    if (process.env.AZURE_AUTHORITY_HOST) options.authorityHost = process.env.AZURE_AUTHORITY_HOST;
    return new ClientSecretCredential(
      required("AZURE_TENANT_ID"),
      required("AZURE_CLIENT_ID"),
      secret,
      options,
    );
  }
  if (process.env.ARMSIM_TOKEN) return new StaticTokenCredential(process.env.ARMSIM_TOKEN);
  throw new ConfigError("set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or ARMSIM_TOKEN");
}

function pollOptions() {
  const raw = process.env.ARMSIM_POLL_INTERVAL;
  if (!raw) return {};
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new ConfigError(`ARMSIM_POLL_INTERVAL must be a non-negative number of seconds, not '${raw}'`);
  }
  return { updateIntervalInMs: Math.round(seconds * 1000) };
}

// The ARM error code and message of an SDK error, else the error's own name.
//   RestError (an HTTP error on the POST or a poll): .code is the ARM error code from the body.
//   Error from core-lro on an Azure-AsyncOperation "Failed" status: the code is only in the message,
//     "The long-running operation has failed. <code>. <message>".
//   A token request refused by the identity endpoints: the AADSTS number in the message, the same code the
//     Python and CLI clients report.
//   Anything else (TLS, connection): the error's code (e.g. ECONNREFUSED) or name.
function errorCode(err) {
  const text = String(err?.message ?? err);
  const lro = /^The long-running operation has failed\. (\S+?)\. ([\s\S]*)$/.exec(text);
  if (lro) return [lro[1], lro[2]];
  const arm = err?.details?.error;
  if (arm?.code) return [String(arm.code), String(arm.message ?? text)];
  const aad = /\b(AADSTS\d+)\b/.exec(text);
  if (aad) return [aad[1], text];
  return [String(err?.code ?? err?.name ?? "Error"), text];
}

async function run() {
  let config;
  try {
    config = {
      endpoint: required("ARMSIM_ENDPOINT"),
      operation: required("ARMSIM_OPERATION").toLowerCase(),
      subscription: required("ARMSIM_SUBSCRIPTION_ID"),
      resourceGroup: required("ARMSIM_RESOURCE_GROUP"),
      service: required("ARMSIM_SERVICE_NAME"),
      parameters: {
        storageAccount: required("ARMSIM_STORAGE_ACCOUNT"),
        containerName: required("ARMSIM_CONTAINER"),
        backupName: required("ARMSIM_BACKUP_NAME"),
        accessType: "AccessKey",
        accessKey: required("ARMSIM_STORAGE_KEY"),
      },
      poll: pollOptions(),
      credential: makeCredential(),
    };
    if (!["backup", "restore"].includes(config.operation)) {
      throw new ConfigError(`ARMSIM_OPERATION must be backup or restore, not '${config.operation}'`);
    }
  } catch (err) {
    if (err instanceof ConfigError) return fail(CONFIG_ERROR, err.message, USAGE_EXIT);
    throw err;
  }
  if (process.env.ARMSIM_CA_CERT && !process.env.NODE_EXTRA_CA_CERTS) {
    process.stderr.write(
      "dr_client: ARMSIM_CA_CERT is set but NODE_EXTRA_CA_CERTS is not; Node will not trust the simulator\n",
    );
  }

  const client = new ApiManagementClient(config.credential, config.subscription, {
    endpoint: config.endpoint,
    credentialScopes: [ARM_SCOPE],
  });
  const services = client.apiManagementService;
  const begin =
    config.operation === "backup"
      ? services.beginBackupAndWait.bind(services)
      : services.beginRestoreAndWait.bind(services);
  let result;
  try {
    result = await begin(config.resourceGroup, config.service, config.parameters, config.poll);
  } catch (err) {
    const [code, message] = errorCode(err);
    return fail(code, message);
  }
  emit({
    outcome: "succeeded",
    provisioningState: result?.provisioningState ?? null,
    name: result?.name ?? null,
  });
  return 0;
}

async function main(argv) {
  if (argv.length > 0) {
    if (argv[0] === "-h" || argv[0] === "--help") {
      // The comment block at the top of this file is the manual.
      const source = await readFile(new URL(import.meta.url), "utf8");
      const lines = source.split("\n").slice(1); // after the #! line
      const header = lines.slice(0, lines.findIndex((line) => !line.startsWith("//")));
      process.stdout.write(header.map((line) => line.replace(/^\/\/ ?/, "")).join("\n") + "\n");
      return 0;
    }
    process.stderr.write("usage: node dr_client.mjs [--help]  (configuration comes from the environment)\n");
    return USAGE_EXIT;
  }
  return run();
}

process.exitCode = await main(process.argv.slice(2));
