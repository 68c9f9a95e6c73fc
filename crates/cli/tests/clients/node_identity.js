// Calls `alias` of the official `mixpanel` Node package against Sextant (an Original
// ID Merge project): `alias` sends `$create_alias` through /track with the token.
// Usage: node node_identity.js HOST:PORT TOKEN
"use strict";
const Mixpanel = require("mixpanel");

const [host, token] = process.argv.slice(2);
const mp = Mixpanel.init(token, { host, protocol: "http", keepAlive: false });

const call = (fn, ...args) =>
  new Promise((resolve, reject) => fn(...args, (err) => (err ? reject(err) : resolve())));

(async () => {
  await call(mp.track.bind(mp), "Before alias", { distinct_id: "node-original", step: 1 });
  await call(mp.alias.bind(mp), "node-original", "node-alias@example.com");
  await call(mp.track.bind(mp), "After alias", { distinct_id: "node-alias@example.com", step: 2 });
  process.stdout.write("[]");
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
