import { test } from "node:test";
import assert from "node:assert/strict";
import { paymentIdentifier, PAYMENT_IDENTIFIER_DECLARATION } from "./idem.js";
import { declarePaymentIdentifierExtension, isValidPaymentId } from "@x402/extensions/payment-identifier";

test("the declaration is the official one", () => {
  assert.deepEqual(PAYMENT_IDENTIFIER_DECLARATION, declarePaymentIdentifierExtension());
});

test("paymentIdentifier accepts what the official client accepts", () => {
  const withId = (id) => ({ extensions: { "payment-identifier": { info: { required: false, id } } } });
  assert.equal(paymentIdentifier({}), null);
  assert.equal(paymentIdentifier({ extensions: { "payment-identifier": { info: { required: false } } } }), null);
  for (const id of ["pay_0123456789abcdef", "a".repeat(16), "A-b_".repeat(32), "a".repeat(15), "a".repeat(129), "pay 0123456789abcdef", "pay_0123456789abcdé", 42]) {
    const got = paymentIdentifier(withId(id));
    const official = typeof id === "string" && isValidPaymentId(id);
    assert.equal(typeof got === "string", official, String(id));
    if (!official) assert.deepEqual(got, { invalid: true });
  }
});
