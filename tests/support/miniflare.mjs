// Starts the built worker (edge/build/index.js) in Miniflare for the Rust e2e tests.
//
//   node tests/support/miniflare.mjs
//
// Environment:
//   MF_PORT      port to listen on (default 0 = pick a free one)
//   MF_BINDINGS  JSON object of vars/secrets to bind, e.g. '{"ORIGIN_URL":"http://127.0.0.1:8080"}'
//   MF_ANALYTICS_SINK  when set, a URL: the worker's ANALYTICS dataset is a recording stand-in
//                that POSTs every data point to it as JSON (Miniflare's own Analytics Engine
//                binding discards them); `discard` binds Miniflare's own
//
// Prints exactly one line `READY <url>` to stdout once the worker answers, then keeps running
// until SIGTERM/SIGINT or until stdin closes (so a parent that dies takes workerd down with it).
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const scriptPath = resolve(root, "edge", "build", "index.js");

if (!existsSync(scriptPath)) {
  console.error(`miniflare.mjs: ${scriptPath} is missing; build the worker first (scripts/test.sh)`);
  process.exit(2);
}

let bindings = {};
if (process.env.MF_BINDINGS) {
  try {
    bindings = JSON.parse(process.env.MF_BINDINGS);
  } catch (err) {
    console.error(`miniflare.mjs: MF_BINDINGS is not valid JSON: ${err.message}`);
    process.exit(2);
  }
}

const port = Number.parseInt(process.env.MF_PORT ?? "0", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`miniflare.mjs: bad MF_PORT ${process.env.MF_PORT}`);
  process.exit(2);
}

const compatibilityDate = "2026-04-01";
const edge = {
  name: "edge",
  modules: true,
  scriptPath,
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
  compatibilityDate,
  bindings,
};
const workers = [edge];
const sink = process.env.MF_ANALYTICS_SINK;
if (sink === "discard") {
  // Miniflare's own Analytics Engine binding: accepts data points and drops them (benchmarks).
  edge.analyticsEngineDatasets = { ANALYTICS: { dataset: "edgestock_requests" } };
} else if (sink) {
  // A wrapped binding: `env.ANALYTICS` is what this module's default export returns. Its
  // writeDataPoint forwards the point and returns the promise, which the worker keeps alive.
  edge.wrappedBindings = { ANALYTICS: { scriptName: "analytics-recorder" } };
  workers.push({
    name: "analytics-recorder",
    modules: [
      {
        type: "ESModule",
        path: "recorder.mjs",
        contents: `export default function (env) {
  return {
    writeDataPoint(point) {
      return fetch(env.SINK_URL, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(point),
      }).then(() => undefined, () => undefined);
    },
  };
}`,
      },
    ],
    // No compatibility date of its own: a wrapped binding runs with the edge worker's.
    bindings: { SINK_URL: sink },
  });
}

const mf = new Miniflare({
  workers,
  host: "127.0.0.1",
  port,
  cf: false,
  // Tests trigger the cron handler with GET /cdn-cgi/handler/scheduled.
  unsafeTriggerHandlers: true,
});

let disposing = false;
async function shutdown(code) {
  if (disposing) return;
  disposing = true;
  try {
    await mf.dispose();
  } catch (err) {
    console.error(`miniflare.mjs: dispose failed: ${err?.message ?? err}`);
  }
  process.exit(code);
}

process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
// stdin closing means the parent is gone (or wants us gone).
process.stdin.on("end", () => shutdown(0));
process.stdin.on("error", () => shutdown(0));
process.stdin.resume();

try {
  const url = await mf.ready;
  // `url` is a URL object such as http://127.0.0.1:41234/ ; print it without the trailing slash.
  process.stdout.write(`READY ${url.origin}\n`);
} catch (err) {
  console.error(`miniflare.mjs: failed to start: ${err?.stack ?? err}`);
  await shutdown(1);
}
