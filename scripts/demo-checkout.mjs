// DEMO ONLY. A stand-in for a checkout backend and its payment provider, for clicking through the
// demo page locally: `POST /pay {"reservation_id"}` "receives the payment" and confirms the placed
// order at the origin with a made-up payment_ref, as a provider's webhook handler would. It has no
// authentication, takes no money, and is never started unless scripts/dev.sh is run with
// DEMO_CHECKOUT=1 (or a test starts it). A real backend is described in docs/checkout-backend.md.
//   DEMO_CHECKOUT_LISTEN  host:port (default 127.0.0.1:8788)
//   ORIGIN_URL            the origin (default http://127.0.0.1:8080)
//   ORIGIN_API_KEY        the backend key
import http from "node:http";
import { randomUUID } from "node:crypto";

const [host, port] = (process.env.DEMO_CHECKOUT_LISTEN || "127.0.0.1:8788").split(":");
const origin = (process.env.ORIGIN_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const key = process.env.ORIGIN_API_KEY;
if (!key) {
  console.error("demo-checkout: ORIGIN_API_KEY is required");
  process.exit(2);
}
const cors = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers": "content-type",
};

const server = http.createServer(async (req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { "content-type": "application/json", ...cors });
    res.end(JSON.stringify(body));
  };
  if (req.method === "OPTIONS") return reply(204, {});
  if (req.method !== "POST" || req.url !== "/pay") {
    return reply(404, { error: { code: "not_found", message: "POST /pay only" } });
  }
  let raw = "";
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 4096) return reply(413, { error: { code: "body_too_large", message: "4 KiB at most" } });
  }
  let reservationId;
  try {
    reservationId = JSON.parse(raw).reservation_id;
  } catch {
    return reply(400, { error: { code: "malformed_json", message: "the body is not JSON" } });
  }
  if (typeof reservationId !== "string" || !/^[A-Za-z0-9._:-]{1,128}$/.test(reservationId)) {
    return reply(422, { error: { code: "invalid_request", message: "reservation_id is required" } });
  }
  try {
    const resp = await fetch(`${origin}/v1/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ reservation_id: reservationId, payment_ref: `demo-${randomUUID()}` }),
      signal: AbortSignal.timeout(5000),
    });
    const body = await resp.json().catch(() => ({}));
    console.log(`demo-checkout: confirmed ${reservationId}: ${resp.status} ${body.status ?? body.error?.code}`);
    return reply(resp.status, body);
  } catch (e) {
    return reply(503, { error: { code: "origin_unavailable", message: String(e) } });
  }
});
server.listen(Number(port), host, () => console.log(`demo-checkout (DEMO ONLY) on http://${host}:${port}`));
