// Route matching with the x402 route syntax: "/api/*" matches /api and below,
// ":id" and "[id]" match one segment; case-insensitive, trailing slash and
// query ignored, first match wins. A route without a method (or "*") matches
// any method.
const compiled = new Map();

function compile(pattern) {
  let re = compiled.get(pattern);
  if (re) return re;
  let p = String(pattern || "/").trim();
  if (!p.startsWith("/")) p = "/" + p;
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  let wildcard = false;
  if (p === "/*") {
    p = "";
    wildcard = true;
  } else if (p.endsWith("/*")) {
    p = p.slice(0, -2);
    wildcard = true;
  }
  const parts = p.split("/").map((seg) => {
    if (/^:[A-Za-z0-9_]+$/.test(seg) || /^\[[A-Za-z0-9_]+\]$/.test(seg)) return "[^/]+";
    return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  const body = parts.join("/");
  re = new RegExp("^" + body + (wildcard ? "(?:/.*)?" : "") + "/?$", "i");
  if (compiled.size > 10000) compiled.clear();
  compiled.set(pattern, re);
  return re;
}

export function routeMatches(route, method, path) {
  const m = String(route.method || "*").toUpperCase();
  if (m !== "*" && m !== "" && m !== method.toUpperCase()) return false;
  return compile(route.path).test(path || "/");
}

export function matchRoute(routes, method, path) {
  if (!Array.isArray(routes)) return null;
  for (const r of routes) if (routeMatches(r, method, path)) return r;
  return null;
}
