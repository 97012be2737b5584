// Consumers' docs at the edge: a listed app (config `listed`) answers
// GET /<app>/llms.txt with its llms.txt, and its 402 HTML page links to its
// docs page. Both come from the portal, which renders the docs page
// (/a/<app>) and llms.txt (/a/<app>/llms.txt) from the same data: the edge
// passes the portal's llms.txt on instead of rendering a second copy.

// portalBase is the portal's public address, without a trailing slash:
// PORTAL_URL (the operator's base URL, path prefix kept) if set, else the
// origin the dispatcher posts telemetry to (INGEST_URL); null when neither.
export function portalBase(env) {
  try {
    if (env.PORTAL_URL) {
      const u = new URL(env.PORTAL_URL);
      return (u.origin + u.pathname).replace(/\/+$/, "");
    }
    return env.INGEST_URL ? new URL(env.INGEST_URL).origin : null;
  } catch {
    return null;
  }
}

// docsURL is a listed app's docs page on the portal, or null.
export function docsURL(env, cfg) {
  const o = cfg && cfg.listed ? portalBase(env) : null;
  return o && cfg.slug ? o + "/a/" + encodeURIComponent(cfg.slug) : null;
}

// servesLLMs says whether the edge answers this request with the app's
// llms.txt: GET or HEAD /llms.txt of a listed app none of whose routes is
// /llms.txt itself (an app may serve its own).
export function servesLLMs(method, path, cfg) {
  if (path !== "/llms.txt" || (method !== "GET" && method !== "HEAD") || !cfg.listed) return false;
  return !(cfg.routes || []).some((r) => r.path === "/llms.txt");
}

const LLMS_TTL_MS = 60 * 1000;
const llmsCache = new Map(); // slug → {version, text, expires}

// llmsText answers /<app>/llms.txt from the portal's /a/<app>/llms.txt,
// kept in this isolate for a minute per config version (a new config, for
// instance a changed route, is read afresh).
export async function llmsText(request, env, cfg) {
  const url = docsURL(env, cfg);
  if (!url) return textResponse(404, "This app has no docs.\n", request);
  const now = Date.now();
  const hit = llmsCache.get(cfg.slug);
  if (hit && hit.version === cfg.config_version && hit.expires > now) return textResponse(200, hit.text, request);
  let r;
  try {
    r = await fetch(url + "/llms.txt", { headers: { accept: "text/markdown, text/plain" } });
  } catch (err) {
    console.error("llms.txt " + cfg.slug + ": " + ((err && err.message) || err));
    return textResponse(503, "The docs could not be read; try again.\n", request);
  }
  if (r.status !== 200) {
    await r.body?.cancel();
    return textResponse(r.status === 404 ? 404 : 503, r.status === 404 ? "This app has no docs.\n" : "The docs could not be read; try again.\n", request);
  }
  const text = await r.text();
  if (llmsCache.size > 1000) llmsCache.clear();
  llmsCache.set(cfg.slug, { version: cfg.config_version, text, expires: now + LLMS_TTL_MS });
  return textResponse(200, text, request);
}

function textResponse(status, text, request) {
  return new Response(request.method === "HEAD" ? null : text, {
    status,
    headers: {
      "content-type": status === 200 ? "text/markdown; charset=utf-8" : "text/plain; charset=utf-8",
      "access-control-allow-origin": "*",
      "cache-control": status === 200 ? "public, max-age=60" : "no-store",
    },
  });
}
