package views

import "strings"

// Command samples of the API guide; $BASE, $TOKEN stay shell variables,
// {app} becomes the example app's URL.
var docSamples = []string{
	`BASE={base}
curl -s $BASE/api/v1/signup -H 'Content-Type: application/json' \
  -d '{"email":"you@example.com","password":"a long password","tenant":"Your Co"}'
# {"token":"claw_…"}
TOKEN=claw_…   # the value printed above`,
	`curl -s $BASE/api/v1/apps -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"slug":"hello","name":"Hello"}'`,
	`echo 'export default { fetch() { return new Response("hello") } }' > index.js
curl -s $BASE/api/v1/apps/hello/versions -H "Authorization: Bearer $TOKEN" \
  -F files=@index.js -F main_module=index.js`,
	`curl -s $BASE/api/v1/apps/hello/versions -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"main_module":"index.js","modules":{"index.js":"export default { fetch() { return new Response(\"hello\") } }"}}'`,
	`curl -s -X POST $BASE/api/v1/apps/hello/deployments -H "Authorization: Bearer $TOKEN"
curl -s {app}`,
	`curl -s -X PUT $BASE/api/v1/apps/hello/routes -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '[{"method":"GET","path":"/","access":"x402","price":"$0.01","pay_to":"0xYourWalletAddress"}]'`,
	`import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";

const client = new x402Client();
registerExactEvmScheme(client, { signer: privateKeyToAccount(process.env.PRIVATE_KEY) });
const pay = wrapFetchWithPayment(fetch, client);
const r = await pay(process.argv[2]);
console.log(r.status, await r.text());`,
}

func (d DocsView) sample(i int) string {
	return strings.NewReplacer("{base}", d.BaseURL, "{app}", d.AppURL).Replace(docSamples[i])
}
