// The TypeScript client against a real server (started by the Rust test
// `typescript_client`, which passes its address and credentials in the environment).

import assert from "node:assert/strict";
import { test } from "node:test";

import { SextantClient, SextantError, backoffMs, defaultRetry, retryable, type EventRecord } from "../src/index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through \`cargo test --test typescript_client\``);
  return value;
};

const serviceAccount = (url: string, prefix = "SEXTANT") =>
  new SextantClient({
    baseUrl: url,
    credential: {
      kind: "serviceAccount",
      username: env(`${prefix}_SA_USER`),
      secret: env(`${prefix}_SA_SECRET`),
      projectId: Number(env(`${prefix}_PROJECT_ID`)),
    },
  });

const DAY = 1_704_067_200; // 2024-01-01T00:00:00Z
const event = (i: number): EventRecord => ({
  event: "Buy",
  properties: { distinct_id: `u${i % 3}`, time: DAY + i * 60, $insert_id: `ts-${i}`, plan: "pro" },
});

test("ingestion, query, engage and export answer in the document's types", async () => {
  const client = serviceAccount(env("SEXTANT_URL"));
  assert.equal((await client.health()).status, "ok");
  const events = Array.from({ length: 10 }, (_, i) => event(i));
  assert.deepEqual(await client.ingestion.import(events), { imported: 10, failed: [] });
  const mixed = await client.ingestion.import([event(10), { event: "Buy", properties: { time: DAY } }]);
  assert.equal(mixed.imported, 1);
  assert.equal(mixed.failed[0]?.index, 1);

  const answer = await client.query.segmentation({ event: "Buy", from_date: "2024-01-01", to_date: "2024-01-01" });
  assert.equal(answer.data.values.Buy["2024-01-01"], 11);

  await client.ingestion.engage(Array.from({ length: 12 }, (_, i) => ({ $distinct_id: `p${i}`, $set: { n: i } })));
  const ids = new Set<string>();
  for await (const profile of client.query.engageAll({ where: 'defined(properties["n"])', page_size: 5 })) ids.add(profile.$distinct_id);
  assert.equal(ids.size, 12);

  let exported = 0;
  for await (const e of client.export.events({ from_date: "2024-01-01", to_date: "2024-01-01" })) {
    assert.equal(e.event, "Buy");
    exported++;
  }
  assert.equal(exported, 11);
  const jql = await client.query.jql({ script: "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-01'}).reduce(mixpanel.reducer.count()); }" });
  assert.deepEqual(jql, [11]);
});

test("refusals carry the code, the request id and a hint; a 400 is not retried", async () => {
  const wrong = new SextantClient({ baseUrl: env("SEXTANT_URL"), credential: { kind: "projectSecret", secret: "wrong" } });
  const refused = await wrong.query.segmentation({ event: "Buy", from_date: "2024-01-01", to_date: "2024-01-01" }).catch((e) => e);
  assert.ok(refused instanceof SextantError);
  assert.equal(refused.status, 401);
  assert.equal(refused.code, "UNAUTHORIZED");
  assert.match(refused.requestId ?? "", /^[0-9a-f-]{36}$/);
  assert.match(refused.hint() ?? "", /secret/);

  const bad = await serviceAccount(env("SEXTANT_URL")).query.segmentation({ event: "Buy", from_date: "yesterday", to_date: "2024-01-01" }).catch((e) => e);
  assert.equal(bad.status, 400);
  assert.equal(bad.attempts, 1);
  assert.match(bad.message, /from_date/);
});

test("rate limits are waited out, within the budget", async () => {
  // One query a second and five an hour on this server.
  const client = serviceAccount(env("SEXTANT_LIMITED_URL"), "SEXTANT_LIMITED");
  const params = { event: "Buy", from_date: "2024-01-01", to_date: "2024-01-01" };
  const started = Date.now();
  await Promise.all([client.query.segmentation(params), client.query.segmentation(params), client.query.segmentation(params)]);
  assert.ok(Date.now() - started >= 2000, `waited ${Date.now() - started} ms`);
  await client.query.segmentation(params);
  await client.query.segmentation(params);
  const quick = Date.now();
  const e = await client.query.segmentation(params).catch((e) => e);
  assert.ok(Date.now() - quick < 10_000);
  assert.equal(e.status, 429);
  assert.ok(e.retryAfterMs > 120_000);
  assert.match(e.hint(), /Retry-After/);
});

test("the retry rules", () => {
  assert.ok(retryable(429, false, undefined));
  assert.ok(!retryable(503, false, 5000));
  assert.ok(retryable(503, true, 5000));
  assert.ok(!retryable(503, true, undefined));
  assert.ok(retryable(502, true, undefined) && !retryable(502, false, undefined));
  assert.ok(!retryable(400, true, undefined) && !retryable(404, true, undefined));
  assert.equal(backoffMs(defaultRetry, 3, undefined, 1), 1000);
  assert.equal(backoffMs(defaultRetry, 1, 2000, 0), 2000);
});
