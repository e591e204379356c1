// A DaprServer app in HTTP mode that the local sidecar delivers to: it discovers the app's
// subscriptions, and reads each answer the SDK's handlers give (DaprPubSubStatusEnum).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer, HttpMethod } from "@dapr/dapr";
import { HOST, client, clientOptions, env, logger, until } from "./common.mjs";

const { SUCCESS, RETRY, DROP } = DaprPubSubStatusEnum;
const run = `js-${Date.now().toString(36)}`;
const received = {}; // topic: the data of each delivery, in arrival order
const answers = {}; // topic: what the handler answers next (SUCCESS once the list is empty)

// `unwrap` finds this run's payload in what the SDK hands the handler.
function handler(topic, unwrap = (data) => data) {
  received[topic] = [];
  return async (data) => {
    const payload = unwrap(data);
    if (payload?.run !== run) return SUCCESS; // from an earlier run (a persistent broker)
    received[topic].push(payload);
    return answers[topic]?.shift() ?? SUCCESS;
  };
}

const server = new DaprServer({
  serverHost: HOST,
  serverPort: env("KUGEL_APP_PORT"),
  communicationProtocol: CommunicationProtocolEnum.HTTP,
  clientOptions: clientOptions(env("KUGEL_APP_SIDECAR_PORT")),
  logger,
});
// The SDK's express app listens on every interface; tests listen on loopback only.
const app = server.daprServer.getServer();
const listen = app.listen.bind(app);
app.listen = (port) => listen(port, HOST);

const publisher = client(env("KUGEL_CLIENT_PORT"));
const publish = (topic, data) => publisher.pubsub.publish("pubsub", topic, { run, ...data });

before(async () => {
  await server.pubsub.subscribe("pubsub", "js-orders", handler("js-orders"));
  await server.pubsub.subscribe("pubsub", "js-retried", handler("js-retried"));
  await server.pubsub.subscribeWithOptions("pubsub", "js-dropped", {
    deadLetterTopic: "js-dropped-dead", callback: handler("js-dropped") });
  await server.pubsub.subscribe("pubsub", "js-dropped-dead", handler("js-dropped-dead"));
  await server.pubsub.subscribe("pubsub", "js-bulk-published", handler("js-bulk-published"));
  await server.pubsub.subscribeWithOptions("pubsub", "js-routed", { route: {
    default: "plain", rules: [{ match: 'event.type == "special"', path: "special" }] } });
  server.pubsub.subscribeToRoute("pubsub", "js-routed", "plain", handler("js-routed-plain"));
  server.pubsub.subscribeToRoute("pubsub", "js-routed", "special", handler("js-routed-special"));
  await server.pubsub.subscribe("pubsub", "js-octets", handler("js-octets"));
  await server.pubsub.subscribe("pubsub", "js-raw-published", handler("js-raw-published"));
  // The SDK decodes data_base64 and parses it: here, the envelope of a normal publish.
  await server.pubsub.subscribeWithOptions("pubsub", "js-raw-subscribed", {
    metadata: { rawPayload: true }, callback: handler("js-raw-subscribed", (event) => event?.data) });
  await server.pubsub.subscribeBulk("pubsub", "js-bulk", handler("js-bulk"),
    { maxMessagesCount: 10, maxAwaitDurationMs: 100 });
  await server.pubsub.subscribeBulk("pubsub", "js-bulk-retried", handler("js-bulk-retried"),
    { maxMessagesCount: 10, maxAwaitDurationMs: 100 });
  await server.invoker.listen("hello", async ({ body, headers }) => ({
    got: JSON.parse(body), caller: headers["dapr-caller-app-id"],
    callee: headers["dapr-callee-app-id"] }), { method: HttpMethod.POST });
  await server.start();
  await publisher.start();
  // The sidecar asks for the app's subscriptions once the app answers, as daprd does.
  let listed = [];
  const discovered = async () => {
    listed = (await server.client.metadata.get()).subscriptions ?? [];
    return listed.length === 11;
  };
  const deadline = Date.now() + 5000;
  while (!(await discovered())) {
    if (Date.now() > deadline) throw new Error(`subscriptions not discovered: ${JSON.stringify(listed)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

after(async () => {
  await publisher.stop();
  await server.stop();
  await server.client.stop();
});

// Each test has topics of its own: they run together, so the slow ones wait at the same time.
describe("a DaprServer app", { concurrency: true }, () => {
  test("the sidecar's metadata lists the DaprServer's subscriptions", async () => {
    const { id, subscriptions } = await server.client.metadata.get();
    assert.equal(id, "js-app");
    const dropped = subscriptions.find(({ topic }) => topic === "js-dropped");
    assert.equal(dropped.pubsubname, "pubsub");
    assert.equal(dropped.deadLetterTopic, "js-dropped-dead");
    // daprd lists the default route as a rule whose empty match is left out (omitempty).
    assert.deepEqual(dropped.rules, [{ path: "/pubsub--js-dropped--default" }]);
  });

  test("the DaprServer's invoker answers a call made through the sidecar", async () => {
    assert.deepEqual(await publisher.invoker.invoke("js-app", "hello", HttpMethod.POST, { x: 1 }),
      { got: { x: 1 }, caller: "js-client", callee: "js-app" });
  });

  test("a handler that answers SUCCESS gets the event once", async () => {
    assert.deepEqual(await publish("js-orders", { n: 1 }), {});
    await until(() => received["js-orders"].length === 1, 5000, "the delivery");
    assert.deepEqual(received["js-orders"], [{ run, n: 1 }]);
  });

  test("a handler that answers RETRY gets the event again", async () => {
    answers["js-retried"] = [RETRY];
    await publish("js-retried", { n: 2 });
    await until(() => received["js-retried"].length === 2, 5000, "the redelivery");
    assert.deepEqual(received["js-retried"], [{ run, n: 2 }, { run, n: 2 }]);
  });

  test("a handler that answers DROP sends the event to the dead-letter topic", async () => {
    answers["js-dropped"] = [DROP];
    await publish("js-dropped", { n: 3 });
    await until(() => received["js-dropped-dead"].length === 1, 5000, "the dead letter");
    assert.deepEqual(received["js-dropped"], [{ run, n: 3 }]);
    assert.deepEqual(received["js-dropped-dead"], [{ run, n: 3 }]);
  });

  test("publishBulk: each entry reaches the subscriber as its own event", async () => {
    const { failedMessages } = await publisher.pubsub.publishBulk("pubsub", "js-bulk-published",
      [{ run, n: 1 }, { run, n: 2 }, { run, n: 3 }]);
    assert.deepEqual(failedMessages, []);
    await until(() => received["js-bulk-published"].length === 3, 5000, "three deliveries");
    assert.deepEqual(received["js-bulk-published"].map(({ n }) => n).sort(), [1, 2, 3]);
  });

  test("a routing rule sends the events it matches to its own handler", async () => {
    await publish("js-routed", { n: 8 });
    await publisher.pubsub.publish("pubsub", "js-routed", { run, n: 9 },
      { metadata: { "cloudevent.type": "special" } });
    await until(() => received["js-routed-special"].length === 1
      && received["js-routed-plain"].length === 1, 5000, "both events");
    assert.deepEqual(received["js-routed-plain"], [{ run, n: 8 }]);
    assert.deepEqual(received["js-routed-special"], [{ run, n: 9 }]);
  });

  test("an octet-stream event reaches the handler through data_base64", async () => {
    const bytes = Buffer.from(JSON.stringify({ run, n: 5 }));
    assert.deepEqual(await publisher.pubsub.publish("pubsub", "js-octets", bytes), {});
    await until(() => received["js-octets"].length === 1, 2000, "the event");
    assert.deepEqual(received["js-octets"], [{ run, n: 5 }]);
  });

  test("a rawPayload publish reaches a normal subscriber as its CloudEvent body", async () => {
    await publisher.pubsub.publish("pubsub", "js-raw-published", { run, n: 6 },
      { metadata: { rawPayload: "true" } });
    await until(() => received["js-raw-published"].length === 1, 2000, "the event");
    assert.deepEqual(received["js-raw-published"], [{ run, n: 6 }]);
  });

  test("a rawPayload subscription gets the whole envelope", async () => {
    await publish("js-raw-subscribed", { n: 7 });
    await until(() => received["js-raw-subscribed"].length === 1, 2000, "the envelope");
    assert.deepEqual(received["js-raw-subscribed"], [{ run, n: 7 }]);
  });

  test("subscribeBulk: the handler gets every entry", async () => {
    await publisher.pubsub.publishBulk("pubsub", "js-bulk", [{ run, n: 1 }, { run, n: 2 }]);
    await until(() => received["js-bulk"].length === 2, 2000, "both entries");
    assert.deepEqual(received["js-bulk"].map(({ n }) => n).sort(), [1, 2]);
  });

  test("subscribeBulk: an entry answered RETRY comes again", async () => {
    answers["js-bulk-retried"] = [RETRY];
    await publish("js-bulk-retried", { n: 1 });
    await until(() => received["js-bulk-retried"].length === 2, 2000, "the redelivered entry");
    assert.deepEqual(received["js-bulk-retried"], [{ run, n: 1 }, { run, n: 1 }]);
  });
});
