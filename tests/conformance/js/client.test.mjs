// DaprClient in HTTP mode against the local sidecar: state, etags, transactions, publish, bulk
// publish, invocation and metadata, as an app that nobody here wrote would use them.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { HttpMethod, StateConcurrencyEnum } from "@dapr/dapr";
import { HOST, client, env, failure } from "./common.mjs";

const STORE = "statestore";
const run = `js-${Date.now().toString(36)}`;
const key = (name) => `${run}-${name}`;
const dapr = client(env("KUGEL_CLIENT_PORT"));

// A loopback proxy in front of the sidecar that keeps the bodies it forwards: what the SDK sends
// on the wire, not what it was given.
const sent = [];
const proxy = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    sent.push({ url: request.url, body: body.toString() });
    const upstream = http.request(
      { host: HOST, port: env("KUGEL_CLIENT_PORT"), path: request.url, method: request.method,
        headers: request.headers },
      (reply) => {
        response.writeHead(reply.statusCode, reply.headers);
        reply.pipe(response);
      },
    );
    upstream.end(body);
  });
});

before(async () => {
  await new Promise((resolve) => proxy.listen(0, HOST, resolve));
  await dapr.start();
});

after(async () => {
  await dapr.stop();
  await new Promise((resolve) => proxy.close(resolve));
});

test("state: save, get, getBulk and delete", async () => {
  assert.deepEqual(await dapr.state.save(STORE, [
    { key: key("a"), value: { n: 1, tags: ["x"] } },
    { key: key("b"), value: "text" },
  ]), {});
  assert.deepEqual(await dapr.state.get(STORE, key("a")), { n: 1, tags: ["x"] });
  assert.equal(await dapr.state.get(STORE, key("b")), "text");
  assert.equal(await dapr.state.get(STORE, key("missing")), ""); // 204: an empty body

  const [a, missing] = await dapr.state.getBulk(STORE, [key("a"), key("missing")]);
  assert.deepEqual({ key: a.key, data: a.data }, { key: key("a"), data: { n: 1, tags: ["x"] } });
  assert.equal(typeof a.etag, "string");
  assert.deepEqual(missing, { key: key("missing") });

  assert.deepEqual(await dapr.state.delete(STORE, key("a")), {});
  assert.equal(await dapr.state.get(STORE, key("a")), "");
  assert.deepEqual(await dapr.state.delete(STORE, key("never")), {}); // 204 for a missing key

  const unknown = await dapr.state.save("no-such-store", [{ key: key("a"), value: 1 }]);
  assert.deepEqual(failure(unknown.error), { status: 400, errorCode: "ERR_STATE_STORE_NOT_FOUND" });
});

test("etags: a stale etag fails with 409, which the SDK returns as an error", async () => {
  await dapr.state.save(STORE, [{ key: key("e"), value: 1 }]);
  const [{ etag: first }] = await dapr.state.getBulk(STORE, [key("e")]);
  assert.deepEqual(await dapr.state.save(STORE, [{ key: key("e"), value: 2, etag: first }]), {});
  const [{ etag: second, data }] = await dapr.state.getBulk(STORE, [key("e")]);
  assert.equal(data, 2);
  assert.notEqual(second, first);

  const stale = await dapr.state.save(STORE, [{ key: key("e"), value: 3, etag: first }]);
  assert.deepEqual(failure(stale.error), { status: 409, errorCode: "ERR_STATE_SAVE" });
  const lastWrite = { concurrency: StateConcurrencyEnum.CONCURRENCY_LAST_WRITE };
  assert.deepEqual(await dapr.state.save(STORE, [
    { key: key("e"), value: 4, etag: first, options: lastWrite }]), {}); // the etag is ignored

  const staleDelete = await dapr.state.delete(STORE, key("e"), { etag: first });
  assert.deepEqual(failure(staleDelete.error), { status: 409, errorCode: "ERR_STATE_DELETE" });
  const [{ etag: current }] = await dapr.state.getBulk(STORE, [key("e")]);
  assert.deepEqual(await dapr.state.delete(STORE, key("e"), { etag: current }), {});
  assert.equal(await dapr.state.get(STORE, key("e")), "");
});

test("etags: an etag for a missing key creates it (state.redis)", async () => {
  assert.deepEqual(await dapr.state.save(STORE, [{ key: key("new"), value: 1, etag: "7" }]), {});
  assert.equal(await dapr.state.get(STORE, key("new")), 1);
});

test("transaction: upserts and deletes; a stale etag rejects with 500", async () => {
  await dapr.state.save(STORE, [{ key: key("t1"), value: "old" }]);
  await dapr.state.transaction(STORE, [
    { operation: "upsert", request: { key: key("t2"), value: { n: 2 } } },
    { operation: "delete", request: { key: key("t1") } },
  ]);
  assert.deepEqual(await dapr.state.get(STORE, key("t2")), { n: 2 });
  assert.equal(await dapr.state.get(STORE, key("t1")), "");

  const [{ etag }] = await dapr.state.getBulk(STORE, [key("t2")]);
  await dapr.state.save(STORE, [{ key: key("t2"), value: { n: 3 } }]);
  await assert.rejects(
    dapr.state.transaction(STORE, [
      { operation: "upsert", request: { key: key("t2"), value: { n: 4 }, etag } }]),
    (error) => {
      assert.deepEqual(failure(error), { status: 500, errorCode: "ERR_STATE_TRANSACTION" });
      return true;
    });
  assert.deepEqual(await dapr.state.get(STORE, key("t2")), { n: 3 });
});

test("publish: accepted, and each refusal comes back as an error", async () => {
  assert.deepEqual(await dapr.pubsub.publish("pubsub", "js-nobody", { n: 1 }), {});
  assert.deepEqual(await dapr.pubsub.publish("pubsub", "js-nobody", "plain text"), {});
  const unknown = await dapr.pubsub.publish("no-such-pubsub", "t", { n: 1 });
  assert.deepEqual(failure(unknown.error), { status: 404, errorCode: "ERR_PUBSUB_NOT_FOUND" });
  const forbidden = await dapr.pubsub.publish("narrow-pubsub", "js-nobody", { n: 1 });
  assert.deepEqual(failure(forbidden.error), { status: 403, errorCode: "ERR_PUBSUB_FORBIDDEN" });
});

test("publishBulk: the SDK sends entryID, and the sidecar accepts it", async () => {
  const viaProxy = client(proxy.address().port);
  const result = await viaProxy.pubsub.publishBulk("pubsub", "js-nobody", [
    { n: 1 }, "two", { entryID: "mine", event: { n: 3 }, contentType: "application/json" }]);
  assert.deepEqual(result, { failedMessages: [] });
  const [{ url, body }] = sent.filter((request) => request.url.includes("/publish/bulk/"));
  assert.match(url, /^\/v1\.0-alpha1\/publish\/bulk\/pubsub\/js-nobody/);
  const entries = JSON.parse(body);
  assert.equal(entries.length, 3);
  for (const entry of entries) {
    assert.equal(typeof entry.entryID, "string"); // Go matches it to entryId
    assert.equal(entry.entryId, undefined);
  }
  assert.equal(entries[2].entryID, "mine");
  assert.deepEqual(entries.map((entry) => entry.contentType),
    ["application/json", "text/plain", "application/json"]);

  const forbidden = await dapr.pubsub.publishBulk("narrow-pubsub", "js-nobody", [{ n: 1 }, { n: 2 }]);
  assert.equal(forbidden.failedMessages.length, 2);
  assert.deepEqual(failure(forbidden.failedMessages[0].error),
    { status: 403, errorCode: "ERR_PUBSUB_FORBIDDEN" });
});

test("invoke: the app gets the call with the caller's identity, and its answer comes back",
  async () => {
    const reply = await dapr.invoker.invoke("echo", "echo/orders/7?x=1", HttpMethod.POST, { a: 1 },
      { headers: { "x-custom": "v" } });
    assert.deepEqual(reply, {
      method: "POST", path: "orders/7", query: "x=1", body: '{"a":1}',
      contentType: "application/json", custom: "v", caller: "js-client", callee: "echo" });
    assert.equal((await dapr.invoker.invoke("echo", "echo/x", HttpMethod.PUT)).method, "PUT");
    await assert.rejects(dapr.invoker.invoke("echo", "nowhere", HttpMethod.GET), (error) => {
      assert.equal(failure(error).status, 404); // the app's own answer
      return true;
    });
    await assert.rejects(dapr.invoker.invoke("ghost", "x", HttpMethod.GET), (error) => {
      assert.deepEqual(failure(error), { status: 500, errorCode: "ERR_DIRECT_INVOKE" });
      return true;
    });
  });

test("metadata: get decodes, and a set value shows in extended", async () => {
  const before = await dapr.metadata.get();
  assert.equal(before.id, "js-client");
  assert.equal(typeof before.runtimeVersion, "string");
  assert.deepEqual(before.components.map(({ name, type }) => ({ name, type }))
    .filter(({ name }) => name === STORE), [{ name: STORE, type: "state.redis" }]);
  assert.equal(await dapr.metadata.set("js-owner", "kugel conformance"), true);
  assert.equal((await dapr.metadata.get()).extended["js-owner"], "kugel conformance");
  assert.equal(await dapr.health.isHealthy(), true);
});
