// Signs one facilitator JWT with the dispatcher's own code (facauth.js) for
// workers/facilitator_auth_test.go: stdin {auth, method, url, nowMs}, stdout the JWT.
import { jwtFor } from "../facauth.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { auth, method, url, nowMs } = JSON.parse(input);
process.stdout.write(await jwtFor(auth, method, url, nowMs));
