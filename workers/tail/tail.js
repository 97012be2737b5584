// The tail worker (see records.js for what it sends). A module worker may
// export nothing but handlers, so the conversion lives in records.js.
import { toRecords } from "./records.js";

// One post carries at most this many records; the portal takes 20,000 lines a post.
const BATCH_RECORDS = 200;

async function post(env, logs) {
  const r = await fetch(env.INGEST_URL, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + (env.INGEST_TOKEN || "") },
    body: JSON.stringify({ logs }),
  });
  if (r.body) await r.body.cancel();
}

export default {
  async tail(events, env) {
    if (!env.INGEST_URL) return;
    // SCRIPT_NAME is set only where the runtime leaves scriptName empty (workerd in tests).
    const recs = toRecords(events, env.SCRIPT_NAME || "");
    for (let i = 0; i < recs.length; i += BATCH_RECORDS) {
      try {
        await post(env, recs.slice(i, i + BATCH_RECORDS));
      } catch {
        // The portal is down: these lines are lost, the tenant's requests are not affected.
      }
    }
  },
};
