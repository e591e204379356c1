// What every JavaScript SDK test shares: the sidecar's address from the Python driver
// (tests/conformance/sdk_js.py) and SDK clients in HTTP mode.
import assert from "node:assert/strict";
import { CommunicationProtocolEnum, DaprClient, LogLevel } from "@dapr/dapr";

export const HOST = "127.0.0.1";

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/conformance/sdk_js.py`);
  return value;
}

// The SDK logs every failed call; the tests provoke failures on purpose and check them instead.
const quiet = { error() {}, warn() {}, info() {}, verbose() {}, debug() {} };
export const logger = { level: LogLevel.Error, service: quiet };

export function clientOptions(port) {
  return {
    daprHost: HOST,
    daprPort: String(port),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    daprApiToken: env("DAPR_API_TOKEN"),
    logger,
  };
}

export function client(port) {
  return new DaprClient(clientOptions(port));
}

// The SDK turns a sidecar error into Error(JSON.stringify({error, error_msg, status})), where
// error_msg is the sidecar's body: daprd's {"errorCode", "message"}.
export function failure(error) {
  assert.ok(error instanceof Error, `expected an Error, got ${JSON.stringify(error)}`);
  const { status, error_msg: body } = JSON.parse(error.message);
  let errorCode;
  try {
    errorCode = JSON.parse(body).errorCode;
  } catch {
    errorCode = undefined;
  }
  return { status, errorCode };
}

// Poll until check() is true: every 10 ms, for at most `ms`.
export async function until(check, ms = 5000, what = "the condition") {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

