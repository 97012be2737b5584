// The dispatcher: the one worker in front of every tenant app.
// Plain ES modules, no npm dependencies, no nodejs_compat: it runs unchanged
// on Cloudflare and in local workerd (where workers/runtime wraps it).
import { resolveApp, splitURL } from "./resolve.js";
import { ConfigCache, ConfigForged, DEFAULT_TTL_MS } from "./config.js";
import { matchRoute } from "./routes.js";
import { checkApiKey } from "./access.js";
import { paywall } from "./x402.js";
import { jsonError, dispatchErrorResponse, errorCodeOf } from "./errors.js";
import { preflight, applyCors } from "./cors.js";
import { newEvent, sendEvent } from "./telemetry.js";
import { stripPortalCookies } from "./cookies.js";
import { edgeFavicon } from "./favicon.js";
import { callerLimits, clientIP, take, refusal, withLimitHeaders } from "./quota.js";
import { servesLLMs, llmsText } from "./docs.js";

// Every request the edge answers gets an id: the Claw-Request-Id response
// header, the request_id of its telemetry event and of the log lines its
// worker wrote (the forwarded request carries it as claw-request-id, with the
// matched route as claw-route, for the tenant's isolate and for a Tail
// Worker). What a client sends under these names is overwritten.
export const REQUEST_ID_HEADER = "claw-request-id";
export const ROUTE_HEADER = "claw-route";

export function newRequestId() {
  return crypto.randomUUID().replaceAll("-", "");
}

// tagRequestId sets the id on a response whose headers are ours (a response
// passed on as it came is tagged in the tenant's isolate by the local wrapper).
function tagRequestId(response, id) {
  try {
    response.headers.set(REQUEST_ID_HEADER, id);
  } catch {
    // Immutable: the wrapper has set it.
  }
  return response;
}

const cache = new ConfigCache();

// Derived per-config values (limits and outbound params) are computed once
// per cached config object, not per request.
const derived = new WeakMap();

function dispatchOptions(cfg) {
  let d = derived.get(cfg);
  if (d) return d;
  const plan = cfg.plan || {};
  const limits = {};
  if (Number.isFinite(plan.cpuMs) && plan.cpuMs > 0) limits.cpuMs = plan.cpuMs;
  if (Number.isFinite(plan.subRequests) && plan.subRequests >= 0) limits.subRequests = plan.subRequests;
  d = {
    limits,
    outbound: {
      app: String(cfg.slug || ""),
      tenant_id: String(cfg.tenant_id ?? ""),
      allow: JSON.stringify(Array.isArray(cfg.egress) ? cfg.egress : []),
    },
  };
  derived.set(cfg, d);
  return d;
}

function configTTL(env) {
  const v = env.CONFIG_CACHE_MS;
  if (v === ttlFor.raw) return ttlFor.ttl;
  let ttl = DEFAULT_TTL_MS;
  if (v !== undefined && v !== null && v !== "") {
    const n = Number(v);
    if (Number.isFinite(n) && n >= 0) ttl = n;
  }
  ttlFor.raw = v;
  ttlFor.ttl = ttl;
  return ttl;
}

function withCors(response) {
  // Responses from fetch() and from other workers have immutable headers.
  const r = new Response(response.body, response);
  applyCors(r.headers);
  return r;
}

// The part of an absolute URL before its path ("http://host:port").
function originOf(href) {
  const slash = href.indexOf("/", href.indexOf("//") + 2);
  return slash < 0 ? href : href.slice(0, slash);
}

const ttlFor = { raw: undefined, ttl: DEFAULT_TTL_MS };

// platform hooks let the local runtime stand in for Cloudflare:
//   namespace(env, ctx, cfg) → the object with get(name, args, options)
//   takeUsage(response, cfg) → [response, {subrequests}]: the app's usage
//     as the platform counted it (never read from the tenant's response)
//   corsApplied(env) → true when the namespace's responses already carry
//     the edge's CORS headers (the local wrapper adds them in the tenant's
//     isolate, saving the dispatcher a copy of every response)
// handle answers synchronously when it can (a cached config and no I/O:
// errors, the 402 challenge) and with a promise otherwise.
export function handle(request, env, ctx, platform = {}) {
  const started = Date.now();
  if (request.method === "OPTIONS" && request.headers.has("access-control-request-method")) {
    return preflight(request);
  }
  const href = request.url;
  let host = request.headers.get("host");
  const url = (host && splitURL(href)) || new URL(href);
  const pathname = url.pathname;
  if (!host) host = url.host;
  const where = resolveApp(host, pathname, env.BASE_DOMAIN || "");
  const ev = newEvent(request.method, where.slug);
  const rid = newRequestId();
  ev.request_id = rid;
  // Every response finish sees was made here by jsonError, CORS included.
  const finish = (response, fields) => {
    Object.assign(ev, fields, { status_code: response.status, duration_ms: Date.now() - started });
    if (ev.app) sendEvent(env, ctx, ev);
    return tagRequestId(response, rid);
  };

  if (!where.slug) {
    const icon = edgeFavicon(request.method, pathname);
    if (icon) return tagRequestId(icon, rid);
    return finish(jsonError(404, "no_app", "No app in this URL: use /<app>/… or <app>." + (env.BASE_DOMAIN || "<base domain>") + "/…."), {
      error_code: "no_app",
    });
  }

  const ttl = configTTL(env);
  const cached = cache.peek(where.slug, ttl, started);
  if (cached !== undefined) return dispatch(cached);
  return cache.get(env.CONFIG, where.slug, ttl, started, env.CONFIG_KEY).then(dispatch, (err) =>
    err instanceof ConfigForged
      ? finish(jsonError(503, "config_invalid", "The app's configuration failed its integrity check; the platform repairs it on its next sync."), {
          error_code: "config_invalid",
        })
      : finish(jsonError(503, "config_unavailable", "The app's configuration could not be read; try again."), {
          error_code: "config_unavailable",
        }),
  );

  // dispatch continues with the app's config (null: no such app).
  function dispatch(cfg) {
    if (!cfg) return finish(jsonError(404, "app_not_found", "No app named " + where.slug + "."), { error_code: "app_not_found" });

    ev.tenant_id = cfg.tenant_id ?? null;
    ev.worker_name = cfg.script || null;
    if (cfg.status === "suspended" || cfg.status === "paused") {
      const reason = cfg.reason || (cfg.status === "paused" ? "The app is paused." : "The app is suspended.");
      return finish(jsonError(403, "app_" + cfg.status, reason), { error_code: "app_" + cfg.status });
    }

    // A listed app's llms.txt (docs.js): the portal's, passed on.
    if (servesLLMs(request.method, where.path, cfg)) return llmsText(request, env, cfg).then((r) => finish(r, {}));

    const route = matchRoute(cfg.routes, request.method, where.path);
    ev.route = route ? (route.method ? route.method + " " : "") + route.path : null;
    const access = route ? route.access || "public" : "public";

    // run forwards to the tenant with the app prefix stripped (the original
    // path stays visible) and returns a response with the edge's CORS headers.
    // With mutable = true its headers are ours to change (the paywall adds its
    // receipt); otherwise the tenant's response may be passed on as it came.
    const run = async (req, mutable) => {
      ev.served = true;
      const target = where.path === pathname ? href : originOf(href) + where.path + url.search;
      const fwd = new Request(target, req);
      const h = fwd.headers;
      h.set("x-forwarded-path", pathname);
      // req is request itself (the paywall passes it on): same Host.
      h.set("x-forwarded-host", host);
      h.set(REQUEST_ID_HEADER, rid);
      try {
        if (ev.route) h.set(ROUTE_HEADER, ev.route);
        else h.delete(ROUTE_HEADER);
      } catch {
        h.delete(ROUTE_HEADER);
      }
      // The tenant never sees the payment: it is the platform's business.
      h.delete("payment-signature");
      const ns = platform.namespace ? platform.namespace(env, ctx, cfg) : env.DISPATCHER;
      let response;
      try {
        const worker = ns.get(cfg.script, {}, dispatchOptions(cfg));
        response = await worker.fetch(fwd);
      } catch (err) {
        const r = dispatchErrorResponse(err);
        if (platform.onDispatchError) platform.onDispatchError(err, cfg);
        ev.error_code = errorCodeOf(r);
        return r;
      }
      if (platform.takeUsage) {
        const [r, usage] = platform.takeUsage(response, cfg);
        response = r;
        if (usage) Object.assign(ev, usage);
      }
      if (platform.corsApplied && platform.corsApplied(env)) {
        return mutable ? stripPortalCookies(new Response(response.body, response), true) : stripPortalCookies(response, false);
      }
      return stripPortalCookies(withCors(response), true);
    };

    const done = (response) => {
      ev.status_code = response.status;
      ev.duration_ms = Date.now() - started;
      sendEvent(env, ctx, ev);
      return tagRequestId(response, rid);
    };
    // Per-caller limits (limit.js) are checked before the tenant runs and,
    // on x402 routes, before the payment is settled (in the paywall).
    const limits = access === "x402" ? null : callerLimits(route);
    const limited = async (caller) => {
      const d = await take(env, where.slug, route, caller, limits, "0");
      if (d && !d.ok) {
        ev.error_code = d.code;
        return refusal(d);
      }
      return withLimitHeaders(await run(request, true), d);
    };
    if (access === "public") return limits ? limited("ip:" + clientIP(request)).then(done) : run(request, false).then(done);
    if (access === "api_key") {
      const key = {};
      return checkApiKey(request, cfg, key).then((denied) =>
        denied ? finish(denied, { error_code: errorCodeOf(denied) }) : limits ? limited("key:" + key.keyHash).then(done) : run(request, false).then(done),
      );
    }
    if (access === "x402") {
      const paidDone = (response) => {
        if (!ev.error_code) ev.error_code = errorCodeOf(response) || (response.status === 402 ? "payment_required" : null);
        return done(response);
      };
      // Unpaid challenges are limited per client IP.
      const cpm = route.limits && Number(route.limits.challengesPerMinute);
      if (cpm > 0 && !request.headers.has("payment-signature")) {
        return take(env, where.slug, route, "challenge:" + clientIP(request), { perMinute: cpm }, "0").then((d) => {
          if (d && !d.ok) return finish(refusal(d), { error_code: d.code });
          const r = paywall(request, route, cfg, env, ctx, ev, run);
          return r instanceof Response ? paidDone(r) : r.then(paidDone);
        });
      }
      const r = paywall(request, route, cfg, env, ctx, ev, run);
      return r instanceof Response ? paidDone(r) : r.then(paidDone);
    }
    return finish(jsonError(500, "bad_config", "The app's route configuration is invalid."), { error_code: "bad_config" });
  }
}

// preload reads an app's config document afresh into this isolate's cache
// and asks the platform to load its worker (platform.preload resolves to
// false when the app has no code), running none of the tenant's code beyond
// its modules' top level. The local runtime calls it when the portal rewrites
// an app's document (a deploy, a config change) and for every app after a
// start, so that the first request neither waits for the cache to expire nor
// pays for loading the worker.
// Cloudflare loads workers on its own: there is no preload hook there.
export async function preload(env, ctx, platform, slug) {
  const cfg = await cache.refresh(env.CONFIG, slug, configTTL(env), Date.now(), env.CONFIG_KEY);
  if (!cfg) return { slug, found: false, loaded: false };
  if (!cfg.script || cfg.status === "suspended" || cfg.status === "paused" || !platform.preload) {
    return { slug, found: true, loaded: false };
  }
  const loaded = await platform.preload(env, ctx, cfg, dispatchOptions(cfg));
  return { slug, found: true, loaded: loaded !== false };
}

export { PaymentLock } from "./lock.js";
export { CallerLimiter } from "./limit.js";

export default {
  fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
};
