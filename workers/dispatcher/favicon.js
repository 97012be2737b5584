// The edge's own icon: browsers ask every host for /favicon.ico, and a URL
// with no app in it would otherwise answer 404 no_app. An app's own
// /favicon.ico (<app>.<base domain>/favicon.ico, /<app>/favicon.ico) is the
// app's business and never reaches this. The same SVG as the portal's
// (static/favicon.svg; a test keeps them equal).
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#c2410c"/><text x="32" y="42" font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="27" font-weight="700" text-anchor="middle" fill="#fff">402</text></svg>';

// edgeFavicon answers GET/HEAD /favicon.ico and /favicon.svg, or returns null.
export function edgeFavicon(method, pathname) {
  if ((method !== "GET" && method !== "HEAD") || (pathname !== "/favicon.ico" && pathname !== "/favicon.svg")) return null;
  return new Response(method === "HEAD" ? null : FAVICON_SVG, {
    headers: { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" },
  });
}
