// A proxy to an upstream API. The upstream's address is the UPSTREAM_URL var and its key the
// UPSTREAM_TOKEN secret (Settings tab); the app may reach only the hosts on its egress
// allowlist (Access & egress tab). GET /proxy/<path> fetches UPSTREAM_URL/<path>.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/proxy/") && url.pathname !== "/proxy") {
      return Response.json({ message: "Call GET /proxy/<path> to fetch it from " + env.UPSTREAM_URL }, { status: 404 });
    }
    const upstream = new URL(env.UPSTREAM_URL);
    const rest = url.pathname.slice("/proxy".length).replace(/^\/+/, "");
    const target = new URL(rest, upstream.href.endsWith("/") ? upstream.href : upstream.href + "/");
    target.search = url.search;
    let answer;
    try {
      answer = await fetch(target, { headers: { Authorization: "Bearer " + env.UPSTREAM_TOKEN, Accept: "application/json" } });
    } catch (err) {
      return Response.json({ error: "upstream unreachable", detail: String(err) }, { status: 502 });
    }
    // Pass the status and body through; the upstream's own headers (cookies included) stay behind.
    return new Response(answer.body, {
      status: answer.status,
      headers: { "Content-Type": answer.headers.get("Content-Type") || "application/octet-stream" },
    });
  },
};
