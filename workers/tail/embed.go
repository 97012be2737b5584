// Package tail holds the tail worker: on Cloudflare it receives the trace of
// every user worker's request (tail_consumers on the user worker's upload)
// and sends its console lines and uncaught exceptions to the portal's ingest
// endpoint as log records.
package tail

import _ "embed"

//go:embed tail.js
var tailJS string

//go:embed records.js
var recordsJS string

// MainModule is the module name the tail worker is uploaded under.
const MainModule = "tail.js"

// Modules are the tail worker's modules by name, MainModule among them.
func Modules() map[string]string {
	return map[string]string{MainModule: tailJS, "records.js": recordsJS}
}
