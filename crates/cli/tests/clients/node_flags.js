// The official `mixpanel` Node package's feature-flag providers against Sextant's HTTPS
// listener.
// Usage: node node_flags.js local|remote HOST:PORT TOKEN CONTEXTS.json
// - local: the LocalFeatureFlagsProvider fetches /flags/definitions once and evaluates
//   every context itself (getAllVariants);
// - remote: the RemoteFeatureFlagsProvider asks /flags for each context.
// The package always dials port 443 for flags; the test server listens on another, so
// requests for HOST are sent to PORT. The certificate authority comes in through
// NODE_EXTRA_CA_CERTS.
// Prints, for each context, {flag key: [variant_key, variant_value, experiment_id,
// is_experiment_active]} as JSON.
"use strict";
const fs = require("fs");
const https = require("https");
const Mixpanel = require("mixpanel");

const [mode, address, token, path] = process.argv.slice(2);
const [host, port] = address.split(":");
const request = https.request;
https.request = (options, ...rest) =>
  request(options && options.host === host ? { ...options, port: Number(port) } : options, ...rest);

const shown = (variants) =>
  Object.fromEntries(
    Object.entries(variants || {}).map(([key, v]) => [
      key,
      [v.variant_key, v.variant_value, v.experiment_id ?? null, v.is_experiment_active ?? null],
    ]),
  );

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: (...a) => console.error(...a) };

(async () => {
  const entries = JSON.parse(fs.readFileSync(path, "utf8"));
  const out = [];
  if (mode === "local") {
    const mp = Mixpanel.init(token, { local_flags_config: { api_host: host, enable_polling: false }, logger: quiet });
    await mp.local_flags.startPollingForDefinitions();
    if (!mp.local_flags.areFlagsReady()) throw new Error("the definitions were not fetched");
    for (const e of entries) out.push(shown(mp.local_flags.getAllVariants(e.context)));
    mp.local_flags.shutdown();
  } else if (mode === "remote") {
    const mp = Mixpanel.init(token, { remote_flags_config: { api_host: host }, logger: quiet });
    for (const e of entries) {
      const variants = await mp.remote_flags.getAllVariants(e.context);
      if (variants === null) throw new Error("the remote call failed");
      out.push(shown(variants));
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
