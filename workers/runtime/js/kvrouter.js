// Speaks workerd's kvNamespace HTTP protocol and forwards it to the local
// Cloudflare API under /runtime/kv/<namespace id>/. With env.NS set every
// key belongs to that namespace (the dispatcher's CONFIG); without it the
// namespace is the key's prefix up to the first "/" (tenants' KV via KVShim).
function split(env, full) {
  if (env.NS) return [env.NS, full];
  const i = full.indexOf("/");
  if (i <= 0) return [null, full];
  return [full.slice(0, i), full.slice(i + 1)];
}

function forward(env, request, ns, rest, search) {
  const url = "http://edge-api/runtime/kv/" + encodeURIComponent(ns) + "/" + rest + search;
  return env.EDGE.fetch(url, {
    method: request.method,
    headers: request.headers,
    body: request.method === "GET" || request.method === "HEAD" ? undefined : request.body,
  });
}

const bad = () => new Response("bad key", { status: 400 });

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/" || path === "") {
      const q = new URLSearchParams(url.search);
      const [ns, prefix] = split(env, q.get("prefix") || "");
      if (!ns) return bad();
      q.set("prefix", prefix);
      return forward(env, request, ns, "", "?" + q.toString());
    }
    if (path === "/bulk/get") {
      if (!env.NS) return bad(); // KVShim never sends bulk requests
      return forward(env, request, env.NS, "bulk/get", url.search);
    }
    const q = new URLSearchParams(url.search);
    const encoded = q.get("urlencoded") === "true";
    const raw = path.slice(1);
    const full = encoded ? decodeURIComponent(raw) : raw;
    const [ns, key] = split(env, full);
    if (!ns) return bad();
    q.set("urlencoded", "true");
    return forward(env, request, ns, encodeURIComponent(key), "?" + q.toString());
  },
};
