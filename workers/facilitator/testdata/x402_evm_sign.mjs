// Pays an x402 v2 PaymentRequired with the official client (@x402/core +
// @x402/evm + viem), the way a consumer or an AI agent does, so the Go tests
// can check that the dev facilitator accepts what nobody here wrote.
//
// stdin: a PaymentRequired JSON document. stdout: the PaymentPayload JSON.
// The key is Anvil/Hardhat test account #1, public and test-only.
import { x402Client } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";

const TEST_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const paymentRequired = JSON.parse(input);

const client = new x402Client();
registerExactEvmScheme(client, { signer: privateKeyToAccount(TEST_KEY) });
const payload = await client.createPaymentPayload(paymentRequired);
process.stdout.write(JSON.stringify(payload) + "\n");
