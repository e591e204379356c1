// A DaprServer app in HTTP mode that the local sidecar delivers to: it discovers the app's
// subscriptions, and reads each answer the SDK's handlers give (DaprPubSubStatusEnum).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer } from "@dapr/dapr";
import { HOST, check, client, clientOptions, env, logger, until } from "./common.mjs";

const { SUCCESS, RETRY, DROP } = DaprPubSubStatusEnum;
const run = `js-${Date.now().toString(36)}`;
const received = {}; // topic: the data of each delivery, in arrival order
const answers = {}; // topic: what the handler answers next (SUCCESS once the list is empty)

function handler(topic) {
  received[topic] = [];
  return async (data) => {
    if (data?.run !== run) return SUCCESS; // an event of an earlier run (a persistent broker)
    received[topic].push(data);
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
  await server.pubsub.subscribeBulk("pubsub", "js-bulk", handler("js-bulk"),
    { maxMessagesCount: 10, maxAwaitDurationMs: 100 });
  await server.pubsub.subscribeBulk("pubsub", "js-bulk-retried", handler("js-bulk-retried"),
    { maxMessagesCount: 10, maxAwaitDurationMs: 100 });
  await server.start();
  await publisher.start();
  // The sidecar asks for the app's subscriptions once the app answers, as daprd does.
  let listed = [];
  const discovered = async () => {
    listed = (await server.client.metadata.get()).subscriptions ?? [];
    return listed.length === 7;
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

check("the sidecar's metadata lists the DaprServer's subscriptions", async () => {
  const { id, subscriptions } = await server.client.metadata.get();
  assert.equal(id, "js-app");
  const dropped = subscriptions.find(({ topic }) => topic === "js-dropped");
  assert.equal(dropped.pubsubname, "pubsub");
  assert.equal(dropped.deadLetterTopic, "js-dropped-dead");
  // daprd lists the default route as a rule whose empty match is left out (omitempty).
  assert.deepEqual(dropped.rules, [{ path: "/pubsub--js-dropped--default" }]);
});

check("a handler that answers SUCCESS gets the event once", async () => {
  assert.deepEqual(await publish("js-orders", { n: 1 }), {});
  await until(() => received["js-orders"].length === 1, 5000, "the delivery");
  assert.deepEqual(received["js-orders"], [{ run, n: 1 }]);
});

check("a handler that answers RETRY gets the event again", async () => {
  answers["js-retried"] = [RETRY];
  await publish("js-retried", { n: 2 });
  await until(() => received["js-retried"].length === 2, 5000, "the redelivery");
  assert.deepEqual(received["js-retried"], [{ run, n: 2 }, { run, n: 2 }]);
});

check("a handler that answers DROP sends the event to the dead-letter topic", async () => {
  answers["js-dropped"] = [DROP];
  await publish("js-dropped", { n: 3 });
  await until(() => received["js-dropped-dead"].length === 1, 5000, "the dead letter");
  assert.deepEqual(received["js-dropped"], [{ run, n: 3 }]);
  assert.deepEqual(received["js-dropped-dead"], [{ run, n: 3 }]);
});

check("publishBulk: each entry reaches the subscriber as its own event", async () => {
  const { failedMessages } = await publisher.pubsub.publishBulk("pubsub", "js-bulk-published",
    [{ run, n: 1 }, { run, n: 2 }, { run, n: 3 }]);
  assert.deepEqual(failedMessages, []);
  await until(() => received["js-bulk-published"].length === 3, 5000, "three deliveries");
  assert.deepEqual(received["js-bulk-published"].map(({ n }) => n).sort(), [1, 2, 3]);
});

check("subscribeBulk: the handler gets every entry", async () => {
  await publisher.pubsub.publishBulk("pubsub", "js-bulk", [{ run, n: 1 }, { run, n: 2 }]);
  await until(() => received["js-bulk"].length === 2, 2000, "both entries");
  assert.deepEqual(received["js-bulk"].map(({ n }) => n).sort(), [1, 2]);
});

check("subscribeBulk: an entry answered RETRY comes again", async () => {
  answers["js-bulk-retried"] = [RETRY];
  await publish("js-bulk-retried", { n: 1 });
  await until(() => received["js-bulk-retried"].length === 2, 2000, "the redelivered entry");
  assert.deepEqual(received["js-bulk-retried"], [{ run, n: 1 }, { run, n: 1 }]);
});
