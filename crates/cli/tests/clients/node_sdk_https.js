// Sends events to a Sextant server over HTTPS with the official `mixpanel` Node package,
// which sends credentials (and so /import) only over HTTPS.
// Usage: node node_sdk_https.js HOST:PORT TOKEN SA_USERNAME SA_SECRET PROJECT_ID PROJECT_SECRET
// The server's certificate authority comes in through NODE_EXTRA_CA_CERTS.
// Prints, as JSON on stdout, the events it sent.
"use strict";
const Mixpanel = require("mixpanel");

const [host, token, saUser, saSecret, projectId, projectSecret] = process.argv.slice(2);
const common = { host, protocol: "https", verbose: true, keepAlive: false };
const sent = [];

const callback = (resolve, reject) => (err) => (err ? reject(err) : resolve());
const batchCallback = (resolve, reject) => (errors) => (errors && errors.length ? reject(errors[0]) : resolve());

(async () => {
  // /track over HTTPS.
  const tracker = Mixpanel.init(token, common);
  const trackProps = { distinct_id: "node-tls-user", seq: "node-tls-track", secure: true };
  await new Promise((res, rej) => tracker.track("Node TLS Track", { ...trackProps }, callback(res, rej)));
  sent.push({ endpoint: "track", event: "Node TLS Track", distinct_id: "node-tls-user", properties: trackProps });

  // /import with service-account credentials (the package's recommended form): one
  // event, then a batch, with times in milliseconds (the package sends Date as ms).
  const credentials = new Mixpanel.ServiceAccountCredentials(saUser, saSecret, projectId);
  const importer = Mixpanel.init(token, { ...common, credentials });
  const old = Date.now() - 20 * 86400 * 1000;
  const one = { distinct_id: "node-tls-old", seq: "node-tls-import" };
  await new Promise((res, rej) => importer.import("Node TLS Import", new Date(old), { ...one }, callback(res, rej)));
  sent.push({ endpoint: "import", event: "Node TLS Import", distinct_id: one.distinct_id, time_ms: old, properties: { seq: one.seq } });
  const batch = [];
  for (let i = 0; i < 120; i++) {
    const props = { distinct_id: `node-tls-batch-${i % 5}`, seq: `node-tls-batch-${i}`, time: old + i * 1000 };
    batch.push({ event: "Node TLS Batch", properties: { ...props } });
    sent.push({ endpoint: "import", event: "Node TLS Batch", distinct_id: props.distinct_id, time_ms: props.time, properties: { seq: props.seq }, sdk_sets_lib: false });
  }
  await new Promise((res, rej) => importer.import_batch(batch, batchCallback(res, rej)));

  // /import with the legacy project secret.
  const legacy = Mixpanel.init(token, { ...common, secret: projectSecret });
  const leg = { distinct_id: "node-tls-legacy", seq: "node-tls-legacy" };
  await new Promise((res, rej) => legacy.import("Node TLS Legacy", old, { ...leg }, callback(res, rej)));
  sent.push({ endpoint: "import", event: "Node TLS Legacy", distinct_id: leg.distinct_id, time_ms: old, properties: { seq: leg.seq } });

  process.stdout.write(JSON.stringify(sent));
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
