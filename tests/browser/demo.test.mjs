// Drives the demo product page in a real headless Chromium (Debian's `chromium`, through
// playwright-core): the badge shows the level, Reserve holds a unit and starts the countdown, the
// badge drops, Release gives it back; Place order awaits payment with its deadline counting down
// and the demo checkout's confirmation shows as "Order confirmed". Run by tests/api/browser.rs,
// which starts the whole stack (the worker in workerd, the gateway, Redis, the origin, Postgres)
// and the demo checkout, seeds the SKUs and sets:
//   EDGE_URL        the worker's base URL (it serves /demo.html and /edgestock.js)
//   DEMO_SKU        a SKU seeded with 3 units and a low-stock threshold of 5
//   PAY_SKU         another such SKU, for the checkout flow
//   PICKUP_SKU      a SKU with 1 unit at the pickup store "Store 12" (code demo-store) and none
//                   to ship
//   CHECKOUT_URL    the demo checkout backend (scripts/demo-checkout.mjs)
//   SCREENSHOT_DIR  where to save screenshots
//   CHROMIUM_PATH   the browser binary (default /usr/bin/chromium)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const edge = process.env.EDGE_URL;
const sku = process.env.DEMO_SKU;
const shots = process.env.SCREENSHOT_DIR || "tests/artifacts";
assert.ok(edge && sku, "EDGE_URL and DEMO_SKU must be set");
mkdirSync(shots, { recursive: true });

const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });

test("badge, reserve with countdown, release", { timeout: 60_000 }, async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${edge}/demo.html?skus=${encodeURIComponent(sku)}&interval=500&ttl=120`);

    const card = page.locator(`.card[data-sku="${sku}"]`);
    const badge = card.locator("[data-edgestock-sku]");
    const reserve = card.locator(".reserve");
    const button = reserve.locator("button").first();

    await assert.doesNotReject(badge.filter({ hasText: "Only 3 left" }).waitFor({ timeout: 10_000 }));
    assert.equal(await badge.getAttribute("data-status"), "low_stock");
    await page.screenshot({ path: `${shots}/demo-1-before.png` });

    await button.click();
    await reserve.locator(".edgestock-hold", { hasText: /Held for 0[12]:\d\d/ }).waitFor({ timeout: 10_000 });
    assert.equal(await reserve.getAttribute("data-state"), "held");
    assert.equal(await button.textContent(), "Release");
    await badge.filter({ hasText: "Only 2 left" }).waitFor({ timeout: 10_000 });
    // The countdown moves.
    const first = await reserve.locator(".edgestock-hold").textContent();
    await page.waitForFunction(
      ([sel, before]) => document.querySelector(sel)?.textContent !== before,
      [`.card[data-sku="${sku}"] .edgestock-hold`, first],
      { timeout: 5_000 },
    );
    await page.screenshot({ path: `${shots}/demo-2-held.png` });

    await button.click();
    await reserve.locator(".edgestock-hold", { hasText: "Released" }).waitFor({ timeout: 10_000 });
    await badge.filter({ hasText: "Only 3 left" }).waitFor({ timeout: 10_000 });
    assert.equal(await reserve.getAttribute("data-state"), "idle");
    await page.screenshot({ path: `${shots}/demo-3-released.png` });
    assert.deepEqual(errors, [], "no uncaught errors on the page");
  } finally {
    await browser.close();
  }
});

test("a lost answer is retried with the same Idempotency-Key: one hold, not two", { timeout: 60_000 }, async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const keys = [];
    const cacheControl = [];
    // The first reserve reaches the edge (the hold is made) but its answer is lost: the page sees
    // a 503 instead. The module must retry with the same key and get the same hold back, asking
    // past the edge's sold-out memory (the hold may have taken the last unit).
    await page.route("**/v1/reservations", async (route) => {
      const req = route.request();
      if (req.method() !== "POST") return route.continue();
      keys.push(req.headers()["idempotency-key"]);
      cacheControl.push(req.headers()["cache-control"] ?? null);
      if (keys.length === 1) {
        await route.fetch();
        return route.fulfill({
          status: 503,
          headers: { "content-type": "application/json", "retry-after": "0" },
          body: JSON.stringify({ error: { code: "redis_unavailable", message: "lost" } }),
        });
      }
      return route.continue();
    });
    await page.goto(`${edge}/demo.html?skus=${encodeURIComponent(sku)}&interval=500&ttl=120`);
    const card = page.locator(`.card[data-sku="${sku}"]`);
    const badge = card.locator("[data-edgestock-sku]");
    const reserve = card.locator(".reserve");
    await badge.filter({ hasText: "Only 3 left" }).waitFor({ timeout: 10_000 });
    await reserve.locator("button").first().click();
    await reserve.locator(".edgestock-hold", { hasText: /Held for/ }).waitFor({ timeout: 10_000 });
    assert.equal(keys.length, 2, "one retry");
    assert.equal(keys[0], keys[1], "the retry reuses the Idempotency-Key");
    assert.deepEqual(cacheControl, [null, "no-cache"], "only the retry skips the edge's memory");
    await badge.filter({ hasText: "Only 2 left" }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${shots}/demo-4-retried.png` });
    await reserve.locator("button").first().click();
    await badge.filter({ hasText: "Only 3 left" }).waitFor({ timeout: 10_000 });
  } finally {
    await browser.close();
  }
});

test("place order, await payment with its deadline, the checkout confirms it", { timeout: 60_000 }, async (t) => {
  const checkout = process.env.CHECKOUT_URL;
  const paySku = process.env.PAY_SKU;
  if (!checkout || !paySku) return t.skip("CHECKOUT_URL and PAY_SKU are set by tests/api/browser.rs");
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(
      `${edge}/demo.html?skus=${encodeURIComponent(paySku)}&interval=500&ttl=120&poll=300&checkout=${encodeURIComponent(checkout)}`,
    );
    const card = page.locator(`.card[data-sku="${paySku}"]`);
    const badge = card.locator("[data-edgestock-sku]");
    const reserve = card.locator(".reserve");
    await badge.filter({ hasText: "Only 3 left" }).waitFor({ timeout: 10_000 });
    await reserve.locator("button", { hasText: "Reserve" }).click();
    await reserve.locator(".edgestock-hold", { hasText: /Held for/ }).waitFor({ timeout: 10_000 });

    await reserve.locator("button.edgestock-place").click();
    // The payment window (PAYMENT_WINDOW_SECONDS, 15 min by default) counts down; no Release now.
    await reserve.locator(".edgestock-hold", { hasText: /Awaiting payment: 1[45]:\d\d left/ }).waitFor({ timeout: 10_000 });
    assert.equal(await reserve.getAttribute("data-state"), "awaiting_payment");
    assert.equal(await reserve.locator("button", { hasText: "Release" }).isVisible(), false);
    await badge.filter({ hasText: "Only 2 left" }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${shots}/demo-5-awaiting-payment.png` });

    await reserve.locator("button.demo-pay").click();
    await reserve.locator(".edgestock-hold", { hasText: "Order confirmed" }).waitFor({ timeout: 10_000 });
    assert.equal(await reserve.getAttribute("data-state"), "confirmed");
    await badge.filter({ hasText: "Only 2 left" }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${shots}/demo-6-confirmed.png` });
    assert.deepEqual(errors, [], "no uncaught errors on the page");
  } finally {
    await browser.close();
  }
});

test("pick up in store: the page offers the store, the reserve names it, the hold is there", { timeout: 60_000 }, async () => {
  const pickupSku = process.env.PICKUP_SKU;
  assert.ok(pickupSku, "PICKUP_SKU must be set");
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const bodies = [];
    page.on("request", (req) => {
      if (req.method() === "POST" && req.url().endsWith("/v1/reservations")) bodies.push(JSON.parse(req.postData()));
    });
    await page.goto(`${edge}/demo.html?skus=${encodeURIComponent(pickupSku)}&interval=500&ttl=120`);
    const card = page.locator(`.card[data-sku="${pickupSku}"]`);
    const reserve = card.locator(".reserve");
    const fulfil = card.locator("select.fulfil");
    await card.locator('select.fulfil[data-ready="true"]').waitFor({ timeout: 10_000 });
    const options = await fulfil.locator("option").allTextContents();
    assert.deepEqual(options, ["Ship to me", "Pick up at Store 12 (1 left)"]);

    // Shipping: nothing ships from anywhere, so the reserve is refused.
    await reserve.locator("button", { hasText: "Reserve" }).click();
    await reserve.locator(".edgestock-hold", { hasText: "Sold out" }).waitFor({ timeout: 10_000 });
    assert.equal(await reserve.getAttribute("data-state"), "sold_out");

    // Picking up at the store holds its unit there.
    await fulfil.selectOption("demo-store");
    await reserve.locator("button").first().click();
    await reserve.locator(".edgestock-hold", { hasText: /Held for 0[12]:\d\d · pick up at Store 12/ }).waitFor({ timeout: 10_000 });
    assert.equal(await reserve.getAttribute("data-state"), "held");
    assert.deepEqual(bodies.map((b) => b.pickup_location ?? null), [null, "demo-store"]);
    await page.screenshot({ path: `${shots}/demo-7-pickup.png` });
    const held = await page.evaluate((k) => JSON.parse(sessionStorage.getItem(k)), `edgestock:hold:${pickupSku}`);
    assert.deepEqual(held.items, [{ sku: pickupSku, qty: 1, allocation: [{ location: "demo-store", qty: 1 }] }]);
    assert.deepEqual(errors, [], "no uncaught errors on the page");
  } finally {
    await browser.close();
  }
});
