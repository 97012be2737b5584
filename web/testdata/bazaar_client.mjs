// The official Bazaar client against a portal: lists its discovery resources.
// argv: portal URL, then the listResources params as JSON.
import { HTTPFacilitatorClient } from "@x402/core/server";
import { withBazaar } from "@x402/extensions/bazaar";
import { validateDiscoveryExtension } from "@x402/extensions/bazaar";

const [url, params] = process.argv.slice(2);
const client = withBazaar(new HTTPFacilitatorClient({ url }));
try {
  const res = await client.extensions.bazaar.listResources(JSON.parse(params || "{}"));
  const valid = res.items.map((it) => (it.extensions && it.extensions.bazaar ? validateDiscoveryExtension(it.extensions.bazaar).valid : null));
  console.log(JSON.stringify({ res, valid }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
}
