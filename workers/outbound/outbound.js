// The outbound worker sees every subrequest of a user worker. It denies all
// egress except the app's allowlist. Its env carries the per-dispatch params
// (app, tenant_id, allow as a JSON array string) plus its own bindings.
// Redirects come back to it hop by hop (the tenant's fetch follows them), so
// every hop is checked. Locally its network is the runtime's egress guard,
// which also refuses private and platform addresses by the address dialled.
export function parseAllow(allow) {
  if (Array.isArray(allow)) return allow.map(String);
  if (typeof allow !== "string" || allow === "") return [];
  try {
    const v = JSON.parse(allow);
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

// hostAllowed: exact host, or "*.example.com" for subdomains only (not the
// apex); case-insensitive; ports ignored on both sides; a trailing dot
// ignored so "api.example.com." cannot slip around an exact rule.
export function hostAllowed(host, patterns) {
  const h = normHost(host);
  if (!h) return false;
  for (const raw of patterns) {
    const p = normHost(raw);
    if (!p) continue;
    if (p.startsWith("*.")) {
      const suffix = p.slice(1);
      if (h.length > suffix.length && h.endsWith(suffix)) return true;
    } else if (h === p) {
      return true;
    }
  }
  return false;
}

function normHost(s) {
  let h = String(s || "").trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

const allowCache = new Map();

function allowList(env) {
  const key = env.allow || "";
  let list = allowCache.get(key);
  if (!list) {
    list = parseAllow(key);
    if (allowCache.size > 1000) allowCache.clear();
    allowCache.set(key, list);
  }
  return list;
}

function report(env, ctx, request, host) {
  if (!ctx || typeof ctx.waitUntil !== "function") return;
  const event = {
    ts: Date.now(),
    tenant_id: env.tenant_id ?? null,
    app: env.app ?? null,
    worker_name: null,
    route: null,
    method: request.method,
    status_code: 403,
    error_code: "egress_blocked",
    host,
    payment_required: false,
    payment_success: false,
    settlement_result: null,
    cpu_ms: null,
    subrequests: null,
    duration_ms: 0,
  };
  try {
    // Locally the dispatcher's own batch takes the event (this worker has no
    // network but the tenants' egress guard).
    if (env.TELEMETRY && typeof env.TELEMETRY.report === "function") {
      ctx.waitUntil(Promise.resolve(env.TELEMETRY.report(event)).catch(() => {}));
      return;
    }
    if (env.ANALYTICS && typeof env.ANALYTICS.writeDataPoint === "function") {
      env.ANALYTICS.writeDataPoint({
        indexes: [String(event.app || "")],
        blobs: [String(event.app || ""), String(event.tenant_id ?? ""), "", "", event.method, "egress_blocked", "", host],
        doubles: [403, 0, 0, 0, 0, 0],
      });
      return;
    }
    if (!env.INGEST_URL) return;
    ctx.waitUntil(
      fetch(env.INGEST_URL, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer " + (env.INGEST_TOKEN || "") },
        body: JSON.stringify({ events: [event] }),
      })
        .then((r) => r.body && r.body.cancel())
        .catch(() => {}),
    );
  } catch {
    // Telemetry must never change the answer.
  }
}

export default {
  async fetch(request, env, ctx) {
    const host = new URL(request.url).host;
    if (hostAllowed(host, allowList(env))) return fetch(request);
    report(env, ctx, request, normHost(host));
    return new Response(
      JSON.stringify({
        error: { code: "egress_blocked", message: "Outbound request to " + normHost(host) + " is not in this app's egress allowlist." },
      }),
      { status: 403, headers: { "content-type": "application/json; charset=utf-8" } },
    );
  },
};
