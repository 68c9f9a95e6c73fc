// Sends events to a Sextant server with the official `mixpanel` Node package.
// Usage: node node_sdk.js HOST:PORT TOKEN
// Prints, as JSON on stdout, the events it sent.
//
// The package refuses to send credentials over plain HTTP, so /import (which needs
// them) is exercised by the Python client; this covers /track as GET (one event,
// base64 in the query string) and as POST (batches, base64 form body).
"use strict";
const Mixpanel = require("mixpanel");

const [host, token] = process.argv.slice(2);
const mp = Mixpanel.init(token, { host, protocol: "http", verbose: true, keepAlive: false });
const sent = [];

function track(event, props) {
  return new Promise((resolve, reject) => {
    mp.track(event, props, (err) => (err ? reject(err) : resolve()));
  });
}

function trackBatch(events) {
  return new Promise((resolve, reject) => {
    mp.track_batch(events, (errors) => (errors && errors.length ? reject(errors[0]) : resolve()));
  });
}

(async () => {
  for (let i = 0; i < 3; i++) {
    const props = { distinct_id: `node-user-${i}`, seq: `node-track-${i}`, n: i, ok: true, list: ["x", i], obj: { a: i } };
    await track("Node Track", { ...props });
    sent.push({ endpoint: "track", event: "Node Track", distinct_id: props.distinct_id, properties: props });
  }
  const now = Date.now();
  const batch = [];
  for (let i = 0; i < 60; i++) {
    const props = { distinct_id: `node-batch-${i % 7}`, seq: `node-batch-${i}`, time: now - i * 1000 };
    batch.push({ event: "Node Batch", properties: { ...props } });
    // track_batch adds the token but not mp_lib/$lib_version.
    sent.push({ endpoint: "track", event: "Node Batch", distinct_id: props.distinct_id, time_ms: props.time, properties: { seq: props.seq }, sdk_sets_lib: false });
  }
  await trackBatch(batch);
  process.stdout.write(JSON.stringify(sent));
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
