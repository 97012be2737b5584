// Local entry of the dispatcher under workerd: stands in for the Cloudflare
// dispatch namespace with the Worker Loader binding. Only the local runtime
// loads this file; the dispatcher itself is unchanged.
//
// env: LOADER (workerLoader), EDGE (the local Cloudflare API), EGRESS (the
// runtime's egress guard, tenants' only way out), CONFIG and
// TENANT_KV (kvNamespace bindings through the KV router), NAMESPACE,
// OUTBOUND_SRC, WRAPPER_SRC, PATCH_SRC (text modules), SUBREQUESTS ("1"
// switches the subrequest-limit emulation on), INGEST_URL, INGEST_TOKEN,
// FACILITATOR_URL, LOCK (the PaymentLock Durable Object namespace), LIMIT
// (the CallerLimiter Durable Object namespace), FLUSH_MS,
// WATCH_MARK (the watchdog's secret, below).
import { WorkerEntrypoint } from "cloudflare:workers";
import { handle, preload } from "./dispatcher.js";
import { EXPOSE_HEADERS } from "./cors.js";
import { warmLocks, probeFacilitator } from "./x402.js";
import { isSlug } from "./resolve.js";
import { fnv1a } from "./hash.js";
import { newEvent, sendEvent, sendLogs } from "./telemetry.js";
// Durable Object classes must be exported by the main module.
export { PaymentLock } from "./lock.js";
export { CallerLimiter } from "./limit.js";
import OUTBOUND_SRC from "./claw-outbound.txt";
import WRAPPER_SRC from "./claw-wrapper.txt";
import PATCH_SRC from "./claw-patch.txt";

const DEFAULT_COMPAT_DATE = "2026-11-01";

// Loader ids are "<script>@<etag>.<config_version>#<outbound hash>:<limit>~<gen>".
// The etag comes from the app's config document (the deployed version), so
// no request reads the script store once an isolate is loaded; config_version
// is part of the id because the portal rewrites the document, bumping it, for
// every change the edge must see (vars and secrets do not change the
// version's etag). A new id is a new isolate: uploads hot-swap without a
// restart. A callback that throws poisons its id for good, so a failed load
// bumps the generation and the next request loads under a fresh id.
const generations = new Map();


const outboundKeys = new WeakMap();
function outboundKey(outbound) {
  let k = outboundKeys.get(outbound);
  if (!k) {
    k = fnv1a(JSON.stringify(outbound)).toString(36);
    outboundKeys.set(outbound, k);
  }
  return k;
}

function b64bytes(b64) {
  const bin = atob(b64 || "");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toLoaderModule(m) {
  const bytes = b64bytes(m.content_b64);
  const text = () => new TextDecoder().decode(bytes);
  const ct = String(m.content_type || "").split(";")[0].trim().toLowerCase();
  switch (ct) {
    case "application/javascript+module":
    case "text/javascript+module":
      return { js: text() };
    case "application/javascript":
    case "text/javascript":
      return m.name.endsWith(".mjs") ? { js: text() } : { cjs: text() };
    case "application/json":
      return { json: JSON.parse(text()) };
    case "application/wasm":
      return { wasm: bytes.buffer };
    case "text/plain":
      return { text: text() };
    default:
      return { data: bytes.buffer };
  }
}

async function fetchScript(env, name) {
  const path = "/runtime/namespaces/" + encodeURIComponent(env.NAMESPACE) + "/scripts/" + encodeURIComponent(name);
  const r = await env.EDGE.fetch("http://edge-api" + path);
  if (r.status === 404) {
    await r.body?.cancel();
    return null;
  }
  if (!r.ok) throw new Error("runtime: unable to fetch script " + name + ": HTTP " + r.status);
  return r.json();
}

// The outbound worker reaches the network only through EGRESS, the runtime's
// egress guard (which refuses private, local and platform addresses by the
// address it connects to), and reports through TELEMETRY, the dispatcher's
// own batch: it has no network of its own and no ingest token.
function loadOutbound(env, ctx, outbound) {
  const id = "claw-outbound#" + outboundKey(outbound);
  return env.LOADER.get(id, () => ({
    compatibilityDate: DEFAULT_COMPAT_DATE,
    mainModule: "outbound.js",
    modules: { "outbound.js": { js: OUTBOUND_SRC } },
    env: { ...outbound, TELEMETRY: ctx.exports.Telemetry({ props: { app: outbound.app || "" } }) },
    globalOutbound: env.EGRESS,
  })).getEntrypoint();
}

// Subrequests per app as the platform saw them leave (the tenant cannot
// write this count: its responses and headers are its own, this Map is not).
// Each request's telemetry event takes what was counted for its app since
// the previous event: the totals are exact; with concurrent requests of one
// app, the split between them is approximate.
const subrequests = new Map(); // app → [counted, reported]

// A loaded worker's entrypoint cannot be handed to another loaded worker, so
// the tenant's globalOutbound is this entrypoint of ours, which loads the
// outbound worker (cached per allowlist) and forwards to it.
export class Outbound extends WorkerEntrypoint {
  fetch(request) {
    const app = this.ctx.props.app || "";
    const c = subrequests.get(app);
    if (c) c[0]++;
    else subrequests.set(app, [1, 0]);
    return loadOutbound(this.env, this.ctx, this.ctx.props).fetch(request);
  }
}

// Telemetry lets the outbound worker add its events (egress_blocked) to the
// dispatcher's batch; the app is the one the dispatcher named, never the
// event's own.
export class Telemetry extends WorkerEntrypoint {
  report(event) {
    if (!event || typeof event !== "object") return;
    const ev = newEvent(String(event.method || ""), this.ctx.props.app || null);
    ev.tenant_id = event.tenant_id ?? null;
    ev.status_code = 403;
    ev.error_code = "egress_blocked";
    ev.host = String(event.host || "").slice(0, 255);
    sendEvent(this.env, this.ctx, ev);
  }
}

// Logs receives the lines a tenant's requests wrote (claw-wrapper.txt: a
// batch of records, one per request, or a single record) and adds them to
// the dispatcher's log batch. The app is the one the dispatcher named when
// it loaded the worker, never the record's own; a tenant that reaches the
// binding can at most write into its own app's logs.
const MAX_LOG_LINES = 1000;
const MAX_LOG_RECORDS = 1000;
export class Logs extends WorkerEntrypoint {
  write(recs) {
    if (!Array.isArray(recs)) recs = [recs];
    for (const rec of recs.slice(0, MAX_LOG_RECORDS)) logRecord(this.env, this.ctx, rec);
  }
}

function logRecord(env, ctx, rec) {
  if (!rec || typeof rec !== "object" || !Array.isArray(rec.lines)) return;
  const str = (v, n) => (typeof v === "string" ? v.slice(0, n) : "");
  const lines = [];
  for (const l of rec.lines.slice(0, MAX_LOG_LINES)) {
    if (!l || typeof l !== "object") continue;
    lines.push({ ts: Number(l.ts) || Date.now(), level: str(l.level, 8), message: str(l.message, 20000) });
  }
  sendLogs(env, ctx, {
    ts: Date.now(),
    app: ctx.props.app || "",
    request_id: str(rec.request_id, 64),
    method: str(rec.method, 16),
    path: str(rec.path, 520),
    route: str(rec.route, 520),
    status: Number(rec.status) || 0,
    lines,
    dropped: Math.max(0, Number(rec.dropped) || 0) + Math.max(0, rec.lines.length - MAX_LOG_LINES),
  });
}

function tenantEnv(script, ctx, env, app) {
  const out = {};
  if (env.LOGS === "1") out.__CLAW_LOGS = ctx.exports.Logs({ props: { app } });
  for (const b of script.bindings || []) {
    switch (b.type) {
      case "plain_text":
      case "secret_text":
        out[b.name] = String(b.text ?? "");
        break;
      case "json":
        out[b.name] = b.json;
        break;
      case "kv_namespace":
        // A real KV binding cannot be handed to a loaded worker
        // (DataCloneError); an RPC stub with the namespace as props can.
        out[b.name] = ctx.exports.KVShim({ props: { ns: b.namespace_id } });
        break;
    }
  }
  return out;
}

// loadTenant returns the loaded worker for the app (loading it on first use).
function loadTenant(env, ctx, name, etag, outbound, limit) {
  const key = name + "@" + etag;
  const gen = generations.get(key) || 0;
  const emulate = env.SUBREQUESTS === "1";
  const id = name + "@" + etag + "#" + (outbound ? outboundKey(outbound) : "-") + (emulate ? ":" + limit : "") + "~" + gen;
  return env.LOADER.get(id, () => loadCode(env, ctx, name, outbound, limit, key, gen, emulate));
}

async function loadCode(env, ctx, name, outbound, limit, key, gen, emulate) {
  let script;
  try {
    script = await fetchScript(env, name);
  } catch (err) {
    generations.set(key, gen + 1);
    throw err;
  }
  if (!script) {
    generations.set(key, gen + 1);
    throw new Error("Worker not found.");
  }
  const modules = {};
  for (const m of script.modules || []) {
    // A source map travels with the upload but is no module (Cloudflare uses it for stack
    // traces only); python parts cannot run here and load as data, unused.
    if (String(m.content_type || "").startsWith("application/source-map")) continue;
    modules[m.name] = toLoaderModule(m);
  }
  const flags = [...(script.compatibility_flags || [])];
  let mainModule = script.main_module;
  if (emulate) {
    // The plan's limit is part of the loaded code (and of the id): no
    // per-request entrypoint props, which cost a channel per request.
    modules["claw-patch.js"] = { js: PATCH_SRC };
    modules["claw-wrapper.js"] = {
      js: WRAPPER_SRC.replace('"__CLAW_MAIN__"', JSON.stringify("./" + mainModule))
        .replace('"__CLAW_LIMIT__"', Number.isFinite(limit) ? String(limit) : "Infinity")
        .replace('"__CLAW_EXPOSE__"', JSON.stringify(EXPOSE_HEADERS))
        .replace('"__CLAW_CAPTURE__"', env.LOGS === "1" ? '"1"' : '"0"'),
    };
    mainModule = "claw-wrapper.js";
    if (!flags.includes("nodejs_als") && !flags.includes("nodejs_compat")) flags.push("nodejs_als");
  }
  const cfg = {
    compatibilityDate: script.compatibility_date || DEFAULT_COMPAT_DATE,
    compatibilityFlags: flags,
    mainModule,
    modules,
    env: tenantEnv(script, ctx, env, outbound ? outbound.app : ""),
  };
  // Never the dispatcher's own network: without outbound params, none.
  cfg.globalOutbound = outbound ? ctx.exports.Outbound({ props: outbound }) : null;
  return cfg;
}

// The etag part of the loader id: the deployed version's (from the config
// document) and the document's version.
function etagOf(cfg, scriptEtag) {
  const etag = cfg.etag || scriptEtag;
  return cfg.config_version !== undefined ? etag + "." + cfg.config_version : etag;
}

// Only when the config names no version: ask the store (slow path). null:
// no such script.
async function storedEtag(env, name) {
  const s = await fetchScript(env, name);
  return s ? s.etag || "unknown" : null;
}

function tenantFor(env, ctx, cfg, name, options, scriptEtag) {
  const limit = options.limits ? options.limits.subRequests : undefined;
  return loadTenant(env, ctx, name, etagOf(cfg, scriptEtag), options.outbound, limit);
}

// ---- watchdog ---------------------------------------------------------------
// workerd runs every isolate on one thread and enforces no CPU limit: a tenant
// stuck in a loop stalls the whole edge, and nothing inside workerd can name
// it while it runs (the async trace writes a context's lines when it ends).
// So every call into a tenant is announced on stdout, synchronously, before it
// starts, and the runtime's watchdog compares the calls into each tenant with
// the contexts the trace saw end. WATCH_MARK is a secret of this process:
// tenants write to the same stdout and must not forge or hide a call. The
// leading newline ends any partial line a tenant left.
function watched(env, script, slug, call) {
  if (env.WATCH_MARK) console.log("\n" + env.WATCH_MARK + " + " + script + " " + slug);
  return call();
}

function localNamespace(env, ctx, cfg) {
  return {
    get(name, _args, options = {}) {
      return {
        fetch(request) {
          if (cfg.etag) return watched(env, name, cfg.slug, () => tenantFor(env, ctx, cfg, name, options).getEntrypoint().fetch(request));
          return storedEtag(env, name).then((e) => {
            if (e === null) throw new Error("Worker not found.");
            return watched(env, name, cfg.slug, () => tenantFor(env, ctx, cfg, name, options, e).getEntrypoint().fetch(request));
          });
        },
      };
    },
  };
}

// Loads the app's worker without calling it. The Worker Loader loads on
// first use, so the preload calls an RPC method no worker has: that waits for
// the load (the script from the local API, the modules' top level) and then
// fails with "does not implement the method" — or with the reason the load
// failed, which the preload reports (the next request retries as usual).
const PROBE = "__402clawPreload__";
async function preloadTenant(env, ctx, cfg, options) {
  const etag = cfg.etag ? undefined : await storedEtag(env, cfg.script);
  // An app without deployed code has a config document too: nothing to load.
  if (etag === null) return false;
  const worker = tenantFor(env, ctx, cfg, cfg.script, options, etag);
  try {
    await watched(env, cfg.script, cfg.slug, () => worker.getEntrypoint()[PROBE]());
  } catch (err) {
    const msg = String((err && err.message) || err);
    if (!msg.includes("does not implement the method")) throw err;
  }
  return true;
}

// The subrequests this request's app made since the last event (see
// Outbound). Nothing the tenant's response says is read.
function takeUsage(response, cfg) {
  const c = cfg && subrequests.get(String(cfg.slug || ""));
  if (!c || c[0] === c[1]) return [response, null];
  const n = c[0] - c[1];
  c[1] = c[0];
  return [response, { subrequests: n }];
}

// The wrapper (subrequest emulation) applies the edge's CORS headers in the
// tenant's isolate, where the response is usually still mutable.
function corsApplied(env) {
  return env.SUBREQUESTS === "1";
}

// Locally the real cause belongs in the portal's log (the client only ever
// sees the mapped error code).
function onDispatchError(err, cfg) {
  console.error("dispatch to " + cfg.script + " failed: " + ((err && err.stack) || err));
}

const platform = { namespace: localNamespace, takeUsage, corsApplied, onDispatchError, preload: preloadTenant };

export default {
  fetch(request, env, ctx) {
    return handle(request, env, ctx, platform);
  },
};

// KVShim is what a loaded tenant gets as its KV binding. Keys are prefixed
// with "<namespace id>/" and the KV router splits them off again, so one
// kvNamespace binding serves every app, each isolated in its own namespace.
export class KVShim extends WorkerEntrypoint {
  k(key) {
    return this.ctx.props.ns + "/" + key;
  }
  async get(key, opts) {
    if (Array.isArray(key)) {
      const m = new Map();
      await Promise.all(key.map(async (k) => m.set(k, await this.env.TENANT_KV.get(this.k(k), opts))));
      return m;
    }
    return this.env.TENANT_KV.get(this.k(key), opts);
  }
  async getWithMetadata(key, opts) {
    if (Array.isArray(key)) {
      const m = new Map();
      await Promise.all(key.map(async (k) => m.set(k, await this.env.TENANT_KV.getWithMetadata(this.k(k), opts))));
      return m;
    }
    return this.env.TENANT_KV.getWithMetadata(this.k(key), opts);
  }
  put(key, value, opts) {
    return this.env.TENANT_KV.put(this.k(key), value, opts);
  }
  delete(key) {
    return this.env.TENANT_KV.delete(this.k(key));
  }
  async list(opts = {}) {
    return this.env.TENANT_KV.list({ ...opts, prefix: this.ctx.props.ns + "/" + (opts.prefix || "") });
  }
}

// ---- warm-up --------------------------------------------------------------

// WarmUp serves a socket of its own (only the runtime knows its port): once
// after every start, so that the first real request does not pay for what
// can be done without it. It creates the PaymentLock objects (their storage
// is opened and read) and runs the dispatcher's free, unpaid and paid paths
// on a synthetic app whose config, facilitator, lock and tenant are in-memory
// fakes (V8 compiles a function on its first call). It reads no real app,
// loads no tenant and sends no telemetry.
const WARM_SLUG = "claw-warm-up";
const zeros = (n) => "0x" + "0".repeat(n);
const warmRequirements = {
  scheme: "exact",
  network: "eip155:84532",
  amount: "1",
  asset: zeros(40),
  payTo: zeros(40),
  maxTimeoutSeconds: 60,
  extra: { name: "USDC", version: "2" },
};
const warmConfig = JSON.stringify({
  v: 1,
  config_version: "warm-up",
  slug: WARM_SLUG,
  script: WARM_SLUG,
  etag: "warm-up",
  status: "active",
  plan: { subRequests: 10 },
  routes: [{ method: "GET", path: "/paid", access: "x402", settle: "after", requirements: warmRequirements, resource: { description: "warm-up" } }],
  egress: [],
});

function warmEnv(env) {
  const answer = (body) => new Response(body, { headers: { "content-type": "application/json" } });
  return {
    BASE_DOMAIN: env.BASE_DOMAIN,
    CONFIG_CACHE_MS: "0", // nothing of the fake app stays cached
    CONFIG: { get: async () => JSON.parse(warmConfig) },
    FACILITATOR_URL: "http://facilitator.invalid",
    FACILITATOR: {
      fetch: async (url) =>
        url.endsWith("/verify")
          ? answer('{"isValid":true,"payer":"' + zeros(40) + '"}')
          : answer('{"success":true,"transaction":"' + zeros(64) + '","network":"eip155:84532","payer":"' + zeros(40) + '"}'),
    },
    LOCK: { idFromName: (n) => n, get: () => ({ acquire: async () => true, release: async () => {} }) },
    LOCK_SHARDS: "1",
  };
}

const warmPlatform = {
  namespace: () => ({ get: () => ({ fetch: async () => new Response("warm") }) }),
  takeUsage,
  corsApplied: () => true,
};

function warmPayment() {
  const validBefore = String(Math.floor(Date.now() / 1000) + 3600);
  const auth = { from: zeros(40), to: zeros(40), value: "1", validAfter: "0", validBefore, nonce: zeros(64) };
  return btoa(JSON.stringify({ x402Version: 2, accepted: warmRequirements, payload: { signature: zeros(130), authorization: auth } }));
}

// At most this many apps are preloaded after a start: the first ones in key
// order (KV cannot tell which were used last).
const PRELOAD_ALL_MAX = 100;

async function preloadAll(env, ctx) {
  const list = await env.CONFIG.list({ prefix: "app:", limit: PRELOAD_ALL_MAX });
  const out = [];
  for (const k of list.keys) {
    const slug = k.name.slice(4);
    if (!isSlug(slug)) continue;
    try {
      out.push(await preload(env, ctx, platform, slug));
    } catch (err) {
      out.push({ slug, error: String((err && err.message) || err) });
    }
  }
  return out;
}

export class WarmUp extends WorkerEntrypoint {
  async fetch(request) {
    const env = this.env;
    const url = new URL(request.url);
    const path = url.pathname;
    // POST /ping: the runtime's watchdog asks four times a second whether the
    // event loop still answers.
    if (request.method === "POST" && path === "/ping") return new Response(null, { status: 204 });
    // POST /preload: every app (after a start); POST /preload/<slug>: one
    // app whose config document the portal has just written.
    if (request.method === "POST" && (path === "/preload" || path.startsWith("/preload/"))) {
      if (path === "/preload") return Response.json({ apps: await preloadAll(env, this.ctx) });
      let slug = null;
      try {
        slug = decodeURIComponent(path.slice("/preload/".length));
      } catch {
        // A broken escape is not a slug either.
      }
      if (!isSlug(slug)) return Response.json({ error: "not a slug" }, { status: 400 });
      try {
        return Response.json(await preload(env, this.ctx, platform, slug));
      } catch (err) {
        return Response.json({ slug, error: String((err && err.message) || err) }, { status: 502 });
      }
    }
    // POST /facilitator: is the facilitator answering? (The runtime asks
    // after a start, again until it does: locally it may be the portal's
    // own dev facilitator, which listens only after the edge has started.)
    if (request.method === "POST" && path === "/facilitator") return Response.json(await probeFacilitator(env));
    await warmLocks(env);
    const fake = warmEnv(env);
    const base = url.origin + "/" + WARM_SLUG;
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      for (const [path, headers] of [["/", {}], ["/paid", {}], ["/paid", { "payment-signature": warmPayment() }]]) {
        const r = await handle(new Request(base + path, { headers }), fake, this.ctx, warmPlatform);
        await r.arrayBuffer();
        statuses.push(r.status);
      }
    }
    return Response.json({ statuses });
  }
}
