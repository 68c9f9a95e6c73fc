// Updates user and group profiles with the official `mixpanel` Node package.
// Usage: node node_profiles.js HOST:PORT TOKEN
// Prints, as JSON on stdout, what each profile must read back as (without $last_seen):
// {"users": {id: properties or null}, "groups": {"key/id": properties or null}}.
"use strict";
const Mixpanel = require("mixpanel");

const [host, token] = process.argv.slice(2);
const mp = Mixpanel.init(token, { host, protocol: "http", keepAlive: false });

const call = (fn, ...args) =>
  new Promise((resolve, reject) => fn(...args, (err) => (err ? reject(err) : resolve())));

(async () => {
  const u = "node-user";
  await call(mp.people.set.bind(mp.people), u, { plan: "team", seats: 3 });
  await call(mp.people.set_once.bind(mp.people), u, "plan", "ignored");
  await call(mp.people.set_once.bind(mp.people), u, "source", "ads");
  await call(mp.people.increment.bind(mp.people), u, "seats", 2);
  await call(mp.people.increment.bind(mp.people), u, { logins: 1, seats: -1 });
  await call(mp.people.append.bind(mp.people), u, "history", "a");
  await call(mp.people.append.bind(mp.people), u, { history: "b" });
  await call(mp.people.union.bind(mp.people), u, { langs: ["js", "rs"] });
  await call(mp.people.union.bind(mp.people), u, { langs: ["rs", "py"] });
  await call(mp.people.remove.bind(mp.people), u, { history: "a" });
  await call(mp.people.unset.bind(mp.people), u, ["source"]);
  await call(mp.people.track_charge.bind(mp.people), u, 12.5, { $time: new Date("2024-02-01T00:00:00Z") });
  const gone = "node-gone";
  await call(mp.people.set.bind(mp.people), gone, "x", 1);
  await call(mp.people.delete_user.bind(mp.people), gone);

  await call(mp.groups.set.bind(mp.groups), "company", "node-co", { size: 5, tags: ["a"] });
  await call(mp.groups.set_once.bind(mp.groups), "company", "node-co", { size: 50, kind: "startup" });
  await call(mp.groups.union.bind(mp.groups), "company", "node-co", { tags: ["b"] });
  await call(mp.groups.remove.bind(mp.groups), "company", "node-co", { tags: "a" });
  await call(mp.groups.unset.bind(mp.groups), "company", "node-co", "kind");
  await call(mp.groups.set.bind(mp.groups), "company", "node-gone", { x: 1 });
  await call(mp.groups.delete_group.bind(mp.groups), "company", "node-gone");

  process.stdout.write(JSON.stringify({
    users: {
      [u]: {
        plan: "team", seats: 4, logins: 1, history: ["b"], langs: ["js", "rs", "py"],
        $transactions: [{ $amount: 12.5, $time: "2024-02-01T00:00:00.000Z" }],
      },
      [gone]: null,
    },
    groups: { "company/node-co": { size: 5, tags: ["b"] }, "company/node-gone": null },
  }));
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
