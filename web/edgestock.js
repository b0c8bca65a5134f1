// edgestock.js: a dependency-free ES module for product pages.
//
//   import { StockBadges, ReserveButton } from "/edgestock.js";
//   const badges = new StockBadges({ api: "https://edge.example.com" });
//   badges.watch(document.querySelectorAll("[data-edgestock-sku]"));
//   new ReserveButton(el, { api, sku: "SKU-1", qty: 1, badges });
//
// Politeness (a flash sale has many tabs open at once):
// - one request refreshes every badge on the page (`GET /v1/stock?sku=a&sku=b`, up to 100 per call);
// - refreshes are spread with random jitter so tabs opened together do not poll together;
// - 429 and 503 back off exponentially (honouring Retry-After), capped;
// - nothing is polled while the tab is hidden; a refresh follows when it becomes visible.

const MAX_SKUS_PER_CALL = 100;

/** Human text for a badge status. */
export function badgeText(stock) {
  if (!stock) return "unavailable";
  switch (stock.status) {
    case "sold_out":
      return "Sold out";
    case "low_stock":
      return typeof stock.available === "number" ? `Only ${stock.available} left` : "Low stock";
    case "in_stock":
      return typeof stock.available === "number" ? `${stock.available} in stock` : "In stock";
    default:
      return "unavailable";
  }
}

/** Parses a `Retry-After` header (seconds or HTTP date) into milliseconds, or null. */
export function retryAfterMs(header, now = Date.now()) {
  if (!header) return null;
  const secs = Number(header);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Next delay: base interval with ±20% jitter, or exponential backoff after failures. */
export function nextDelayMs({ intervalMs, failures, retryAfter, maxBackoffMs, random = Math.random }) {
  if (retryAfter != null) return Math.min(maxBackoffMs, retryAfter + random() * 1000);
  if (failures > 0) {
    const exp = Math.min(maxBackoffMs, intervalMs * 2 ** failures);
    return exp / 2 + random() * (exp / 2);
  }
  return intervalMs * (0.8 + random() * 0.4);
}

async function readError(resp) {
  try {
    const body = await resp.json();
    return body && body.error ? body.error : { code: `http_${resp.status}`, message: resp.statusText };
  } catch {
    return { code: `http_${resp.status}`, message: resp.statusText };
  }
}

/** Keeps every badge on the page fresh with one polite polling loop. */
export class StockBadges {
  constructor({ api, intervalMs = 5000, maxBackoffMs = 60000, fetchImpl } = {}) {
    this.api = (api || "").replace(/\/$/, "");
    this.intervalMs = intervalMs;
    this.maxBackoffMs = maxBackoffMs;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.elements = new Map(); // sku -> Set<Element>
    this.latest = new Map(); // sku -> stock JSON
    this.failures = 0;
    this.timer = null;
    this.listeners = new Set();
    this.onVisibility = () => {
      if (document.hidden) this.stop();
      else this.refreshSoon(0);
    };
  }

  /** Starts watching elements carrying `data-edgestock-sku`. */
  watch(elements) {
    for (const el of elements) {
      const sku = el.dataset.edgestockSku;
      if (!sku) continue;
      if (!this.elements.has(sku)) this.elements.set(sku, new Set());
      this.elements.get(sku).add(el);
    }
    document.addEventListener("visibilitychange", this.onVisibility);
    this.refreshSoon(0);
    return this;
  }

  /** Calls `fn(sku, stock)` after every refresh of a SKU. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  refreshSoon(delayMs) {
    this.stop();
    if (typeof document !== "undefined" && document.hidden) return;
    this.timer = setTimeout(() => this.refresh(), delayMs);
  }

  /** Fetches every watched SKU now (chunks of 100) and schedules the next refresh. */
  async refresh() {
    const skus = [...this.elements.keys()];
    let retryAfter = null;
    try {
      for (let i = 0; i < skus.length; i += MAX_SKUS_PER_CALL) {
        const chunk = skus.slice(i, i + MAX_SKUS_PER_CALL);
        const qs = chunk.map((s) => `sku=${encodeURIComponent(s)}`).join("&");
        const resp = await this.fetch(`${this.api}/v1/stock?${qs}`, { headers: { accept: "application/json" } });
        if (resp.status === 429 || resp.status === 503) {
          retryAfter = retryAfterMs(resp.headers.get("retry-after"));
          throw new Error(`HTTP ${resp.status}`);
        }
        if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
        const body = await resp.json();
        for (const stock of body.items || []) this.update(stock.sku, stock);
      }
      this.failures = 0;
    } catch {
      this.failures += 1;
      for (const sku of skus) if (!this.latest.has(sku)) this.update(sku, null);
    }
    this.refreshSoon(
      nextDelayMs({
        intervalMs: this.intervalMs,
        failures: this.failures,
        retryAfter,
        maxBackoffMs: this.maxBackoffMs,
      }),
    );
  }

  /** Renders one SKU's badges. */
  update(sku, stock) {
    if (stock) this.latest.set(sku, stock);
    for (const el of this.elements.get(sku) || []) {
      el.textContent = badgeText(stock);
      el.dataset.status = stock ? stock.status : "unknown";
    }
    for (const fn of this.listeners) fn(sku, stock);
  }
}

/** "mm:ss" of a number of seconds. */
export function mmss(seconds) {
  const left = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(left / 60)).padStart(2, "0")}:${String(left % 60).padStart(2, "0")}`;
}

/**
 * A reserve / release button with a hold countdown, then "Place order": the order awaits payment
 * until its deadline (counted down), and the button polls the reservation until the checkout
 * backend confirms it. The browser never says anything about the payment itself.
 * States (in `el.dataset.state`): idle, busy, held, awaiting_payment, confirmed, sold_out, expired,
 * rate_limited, error.
 * `onPlaced(order)` is called once the order is placed (e.g. to start the payment).
 */
/**
 * The stores where a SKU can be picked up, with their badges: `[{location, name, status,
 * available?}]` from `GET /v1/stock/{sku}?locations=true` (empty when none, or on any failure:
 * shipping stays possible).
 */
export async function pickupLocations({ api, sku, fetchImpl }) {
  const f = fetchImpl || globalThis.fetch.bind(globalThis);
  try {
    const base = (api || "").replace(/\/$/, "");
    const resp = await f(`${base}/v1/stock/${encodeURIComponent(sku)}?locations=true`);
    if (!resp.ok) return [];
    const body = await resp.json();
    return Array.isArray(body.locations) ? body.locations : [];
  } catch {
    return [];
  }
}

export class ReserveButton {
  // `pickup()` (optional) answers the chosen pickup `{location, name}`, or null to ship.
  constructor(root, { api, sku, qty = 1, ttlSeconds, badges, fetchImpl, storage, pollMs = 2000, onPlaced, pickup } = {}) {
    this.root = root;
    this.api = (api || "").replace(/\/$/, "");
    this.sku = sku;
    this.qty = qty;
    this.ttlSeconds = ttlSeconds;
    this.badges = badges;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.storage = storage || globalThis.sessionStorage;
    this.hold = null;
    this.countdown = null;
    // One Idempotency-Key per reserve attempt, kept until a definitive answer: a retry after a
    // timeout, a network error or a 5xx replays the hold made before it instead of making another.
    this.pendingKey = null;
    this.pollMs = pollMs;
    this.onPlaced = onPlaced;
    this.pickup = pickup;
    this.order = null;
    this.poller = null;

    this.button = document.createElement("button");
    this.button.type = "button";
    this.placeButton = document.createElement("button");
    this.placeButton.type = "button";
    this.placeButton.className = "edgestock-place";
    this.placeButton.textContent = "Place order";
    this.placeButton.hidden = true;
    this.status = document.createElement("span");
    this.status.className = "edgestock-hold";
    this.status.setAttribute("aria-live", "polite");
    root.append(this.button, this.placeButton, this.status);
    this.button.addEventListener("click", () => (this.hold ? this.release() : this.reserve()));
    this.placeButton.addEventListener("click", () => this.place());
    this.restore();
  }

  setState(state, message) {
    this.root.dataset.state = state;
    const ordered = state === "awaiting_payment" || state === "confirmed";
    this.button.disabled = state === "busy";
    // Once the order is placed only the merchant can cancel it: no Release any more.
    this.button.hidden = ordered;
    this.placeButton.hidden = !this.hold || ordered;
    this.placeButton.disabled = state === "busy";
    this.button.textContent = this.hold ? "Release" : state === "sold_out" ? "Sold out" : "Reserve";
    if (message !== undefined) this.status.textContent = message;
  }

  storageKey() {
    return `edgestock:hold:${this.sku}`;
  }

  restore() {
    try {
      const saved = JSON.parse(this.storage.getItem(this.storageKey()) || "null");
      if (saved && saved.order) {
        this.hold = saved;
        this.order = saved.order;
        this.awaitPayment();
        return;
      }
      if (saved && saved.expires_at_ms > Date.now()) {
        this.hold = saved;
        this.startCountdown();
        return;
      }
    } catch {
      /* ignore unreadable storage */
    }
    this.setState("idle", "");
  }

  async reserve() {
    this.setState("busy", "Reserving…");
    const body = { items: [{ sku: this.sku, qty: this.qty }] };
    if (this.ttlSeconds) body.ttl_seconds = this.ttlSeconds;
    const pickup = this.pickup?.() || null;
    if (pickup) body.pickup_location = pickup.location;
    try {
      // A kept key means the last attempt got no definitive answer: this one is a retry.
      const retry = this.pendingKey !== null;
      const key = (this.pendingKey ??= crypto.randomUUID());
      let resp;
      // Up to 3 tries on 502/503, honouring Retry-After (bounded to 3 s), with the same key. A
      // retry asks past the edge's sold-out memory (`no-cache`): it may replay a hold made just
      // before the SKU sold out.
      for (let attempt = 0; ; attempt++) {
        const headers = { "content-type": "application/json", "idempotency-key": key };
        if (attempt > 0 || retry) headers["cache-control"] = "no-cache";
        resp = await this.fetch(`${this.api}/v1/reservations`, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
        });
        if ((resp.status !== 502 && resp.status !== 503) || attempt >= 2) break;
        const wait = retryAfterMs(resp.headers.get("retry-after")) ?? 500 * (attempt + 1);
        await new Promise((r) => setTimeout(r, Math.min(wait, 3000)));
      }
      if (resp.status < 500 && resp.status !== 429) this.pendingKey = null;
      if (resp.ok) {
        this.hold = await resp.json();
        if (pickup) this.hold.pickup_name = pickup.name;
        this.storage.setItem(this.storageKey(), JSON.stringify(this.hold));
        this.startCountdown();
      } else if (resp.status === 409) {
        const err = await readError(resp);
        const where = err.location && pickup ? ` at ${pickup.name}` : "";
        this.setState("sold_out", err.code === "insufficient_stock" ? `Sold out${where}` : err.message);
      } else if (resp.status === 429) {
        const wait = retryAfterMs(resp.headers.get("retry-after"));
        this.setState("rate_limited", `Too many attempts, try again in ${Math.ceil((wait || 1000) / 1000)} s`);
      } else {
        const err = await readError(resp);
        this.setState("error", err.message || "Something went wrong");
      }
    } catch {
      this.setState("error", "Network error, try again");
    }
    this.badges?.refreshSoon(0);
  }

  async release() {
    const hold = this.hold;
    this.setState("busy", "Releasing…");
    try {
      const resp = await this.fetch(`${this.api}/v1/reservations/${encodeURIComponent(hold.reservation_id)}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${hold.token}` },
      });
      if (!resp.ok && resp.status !== 404 && resp.status !== 409) {
        const err = await readError(resp);
        this.setState("held", err.message || "Could not release");
        return;
      }
    } catch {
      this.setState("held", "Network error, try again");
      return;
    }
    this.clearHold();
    this.setState("idle", "Released");
    this.badges?.refreshSoon(0);
  }

  /** Places the order: the units stay held until its payment deadline. */
  async place() {
    const hold = this.hold;
    this.setState("busy", "Placing the order…");
    try {
      const resp = await this.fetch(`${this.api}/v1/reservations/${encodeURIComponent(hold.reservation_id)}/confirm`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${hold.token}` },
        body: "{}",
      });
      if (!resp.ok) {
        const err = await readError(resp);
        if (err.code === "reservation_expired") {
          this.clearHold();
          this.setState("expired", "Your hold expired");
        } else {
          this.setState("held", err.message || "Could not place the order");
        }
        return;
      }
      this.order = await resp.json();
    } catch {
      this.setState("held", "Network error, try again");
      return;
    }
    this.hold.order = this.order;
    this.storage.setItem(this.storageKey(), JSON.stringify(this.hold));
    this.awaitPayment();
    this.onPlaced?.(this.order, this.hold);
  }

  /** Counts down to the payment deadline and polls the reservation for the order's status. */
  awaitPayment() {
    clearInterval(this.countdown);
    const tick = () => {
      const left = ((this.order.payment_deadline_ms ?? Date.now()) - Date.now()) / 1000;
      this.setState("awaiting_payment", `Awaiting payment: ${mmss(left)} left`);
    };
    this.countdown = setInterval(tick, 1000);
    tick();
    clearInterval(this.poller);
    this.poller = setInterval(() => this.poll(), this.pollMs);
  }

  async poll() {
    try {
      const resp = await this.fetch(`${this.api}/v1/reservations/${encodeURIComponent(this.hold.reservation_id)}`, {
        headers: { authorization: `Bearer ${this.hold.token}` },
      });
      if (!resp.ok) return;
      const view = await resp.json();
      const status = view.order?.status;
      if (status === "CONFIRMED") this.finish("confirmed", "Order confirmed");
      else if (status === "EXPIRED") this.finish("expired", "The payment window closed");
      else if (status === "CANCELLED") this.finish("expired", "The order was cancelled");
    } catch {
      /* keep polling */
    }
  }

  finish(state, message) {
    this.clearHold();
    this.setState(state, message);
    this.badges?.refreshSoon(0);
  }

  clearHold() {
    clearInterval(this.countdown);
    clearInterval(this.poller);
    this.countdown = null;
    this.poller = null;
    this.hold = null;
    this.order = null;
    this.storage.removeItem(this.storageKey());
  }

  startCountdown() {
    const tick = () => {
      const left = Math.max(0, Math.round((this.hold.expires_at_ms - Date.now()) / 1000));
      if (left <= 0) {
        this.clearHold();
        this.setState("expired", "Your hold expired");
        this.badges?.refreshSoon(0);
        return;
      }
      const where = this.hold.pickup_name ? ` · pick up at ${this.hold.pickup_name}` : "";
      this.setState("held", `Held for ${mmss(left)}${where}`);
    };
    clearInterval(this.countdown);
    this.countdown = setInterval(tick, 1000);
    tick();
  }
}
