// Conformance of edgestock-gateway with the official @upstash/redis client (pinned by
// package-lock.json). Run by gateway/tests/gateway.rs, which starts the gateway and sets
// UPSTASH_REDIS_REST_URL / UPSTASH_REDIS_REST_TOKEN / UPSTASH_REDIS_REST_READONLY_TOKEN.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";

const url = process.env.UPSTASH_REDIS_REST_URL;
const token = process.env.UPSTASH_REDIS_REST_TOKEN;
const readonlyToken = process.env.UPSTASH_REDIS_REST_READONLY_TOKEN;
assert.ok(url && token, "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set");

// Defaults on purpose: base64 response encoding, auto-pipelining and read-your-writes are all on.
const redis = new Redis({ url, token, enableTelemetry: false });
const p = `conf:${Math.random().toString(16).slice(2)}:`;

test("strings, including a stored \"OK\" and numbers, round-trip", async () => {
  assert.equal(await redis.set(`${p}s`, "hello"), "OK");
  assert.equal(await redis.get(`${p}s`), "hello");
  await redis.set(`${p}ok`, "OK");
  assert.equal(await redis.get(`${p}ok`), "OK");
  await redis.set(`${p}eight`, "8");
  assert.equal(await redis.get(`${p}eight`), 8);
  assert.equal(await redis.incrby(`${p}n`, 5), 5);
  assert.equal(await redis.get(`${p}missing`), null);
  assert.equal(await redis.set(`${p}nx`, "v", { nx: true }), "OK");
  assert.equal(await redis.set(`${p}nx`, "v", { nx: true }), null);
  assert.deepEqual(await redis.mget(`${p}s`, `${p}missing`), ["hello", null]);
});

test("unicode and binary-ish values survive base64", async () => {
  const v = "héllo ✓ 日本 \u0000 end";
  await redis.set(`${p}u`, v);
  assert.equal(await redis.get(`${p}u`), v);
  await redis.set(`${p}obj`, { a: 1, b: [true, null] });
  assert.deepEqual(await redis.get(`${p}obj`), { a: 1, b: [true, null] });
});

test("hashes", async () => {
  assert.equal(await redis.hset(`${p}h`, { on_hand: 10, reserved: 0, name: "OK" }), 3);
  assert.equal(await redis.hincrby(`${p}h`, "reserved", 2), 2);
  assert.deepEqual(await redis.hgetall(`${p}h`), { on_hand: 10, reserved: 2, name: "OK" });
  assert.equal(await redis.hget(`${p}h`, "name"), "OK");
});

test("sorted sets", async () => {
  await redis.zadd(`${p}z`, { score: 2, member: "b" }, { score: 1, member: "a" });
  assert.deepEqual(await redis.zrange(`${p}z`, 0, -1), ["a", "b"]);
  assert.deepEqual(await redis.zrange(`${p}z`, 0, -1, { withScores: true }), ["a", 1, "b", 2]);
  assert.equal(await redis.zscore(`${p}z`, "b"), 2);
  assert.equal(await redis.zcard(`${p}z`), 2);
});

test("createScript: EVALSHA falls back to EVAL on NOSCRIPT, then EVALSHA hits", async () => {
  const src = `#!lua flags=allow-key-locking\n-- ${p}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
  const script = redis.createScript(src);
  // Not loaded yet: a plain EVALSHA must fail with Redis's own NOSCRIPT text.
  await assert.rejects(script.evalsha([`${p}sc`], ["1"]), /NOSCRIPT/);
  assert.equal(await script.exec([`${p}sc`], ["5"]), 5);
  assert.equal(await script.evalsha([`${p}sc`], ["1"]), 6);
  const ro = redis.createScript(`#!lua flags=no-writes,allow-key-locking\n-- ${p}\nreturn redis.call('GET', KEYS[1])`, { readonly: true });
  assert.equal(await ro.exec([`${p}sc`], []), 6);
  assert.equal(await redis.scriptLoad(src), script.sha1);
  assert.deepEqual(await redis.scriptExists(script.sha1), [1]);
});

test("pipeline keeps order and reports per-command errors", async () => {
  const pipe = redis.pipeline();
  pipe.set(`${p}pa`, "1");
  pipe.incr(`${p}pa`);
  pipe.hset(`${p}pa`, { f: "v" });
  pipe.get(`${p}pa`);
  const res = await pipe.exec({ keepErrors: true });
  assert.equal(res.length, 4);
  assert.equal(res[0].result, "OK");
  assert.equal(res[1].result, 2);
  assert.match(res[2].error, /^WRONGTYPE/);
  assert.equal(res[3].result, 2);
  await assert.rejects(redis.pipeline().hset(`${p}pa`, { f: "v" }).exec(), /WRONGTYPE/);
});

test("multi is atomic", async () => {
  const tx = redis.multi();
  tx.set(`${p}m`, "1");
  tx.incr(`${p}m`);
  tx.get(`${p}m`);
  assert.deepEqual(await tx.exec(), ["OK", 2, 2]);
});

test("auto-pipelined concurrent commands", async () => {
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => redis.incr(`${p}auto`)));
  assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
});

test("sync token is non-empty and changes after writes, and an arbitrary one is accepted", async () => {
  const r = new Redis({ url, token, enableTelemetry: false, enableAutoPipelining: false });
  await r.set(`${p}ryw`, "1");
  const t1 = r.readYourWritesSyncToken;
  assert.ok(typeof t1 === "string" && t1.length > 0);
  await r.set(`${p}ryw`, "2");
  assert.notEqual(r.readYourWritesSyncToken, t1);
  const before = r.readYourWritesSyncToken;
  await r.pipeline().set(`${p}ryw`, "3").set(`${p}ryw`, "4").exec();
  assert.notEqual(r.readYourWritesSyncToken, before);
  r.readYourWritesSyncToken = "my-new-sync-token";
  assert.equal(await r.set(`${p}ryw`, "5"), "OK");
});

test("a bad token is a 401 the client surfaces", async () => {
  const bad = new Redis({ url, token: "definitely-wrong", enableTelemetry: false, retry: false });
  await assert.rejects(bad.get(`${p}s`), /WRONGPASS|Unauthorized|401/);
});

test("the read-only token reads but may not write", { skip: !readonlyToken }, async () => {
  const ro = new Redis({ url, token: readonlyToken, enableTelemetry: false, enableAutoPipelining: false });
  assert.equal(await ro.get(`${p}s`), "hello");
  await assert.rejects(ro.set(`${p}s`, "nope"), /NOPERM/);
});

test("responses without base64 encoding also work", async () => {
  const plain = new Redis({ url, token, enableTelemetry: false, responseEncoding: false });
  await plain.set(`${p}plain`, "OK");
  assert.equal(await plain.get(`${p}plain`), "OK");
  assert.equal(await plain.get(`${p}s`), "hello");
});
