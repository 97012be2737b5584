// Package outbound holds the outbound (egress) worker: it sees every
// subrequest of a user worker and denies all but the app's allowlist.
package outbound

import _ "embed"

// Script is outbound.js, uploaded to Cloudflare as a module worker and loaded
// by the local runtime as every user worker's globalOutbound.
//
//go:embed outbound.js
var Script string

// MainModule is the module name Script is uploaded under.
const MainModule = "outbound.js"
