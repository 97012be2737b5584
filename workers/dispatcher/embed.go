// Package dispatcher holds the dispatcher worker: the JavaScript in front of
// every tenant app (routing, config, access, error mapping, telemetry).
package dispatcher

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.js
var files embed.FS

// MainModule is the entry module of the dispatcher.
const MainModule = "dispatcher.js"

// Modules returns the dispatcher's ES modules by name (tests excluded), ready
// for a multipart upload or a workerd config.
func Modules() map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("dispatcher: unable to read embedded modules: " + err.Error())
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".test.js") {
			continue
		}
		b, err := files.ReadFile(name)
		if err != nil {
			panic("dispatcher: unable to read embedded module " + name + ": " + err.Error())
		}
		out[name] = string(b)
	}
	return out
}

// ModuleNames returns the names of Modules in a stable order, the main module
// first, as Cloudflare wants it in a multipart upload.
func ModuleNames() []string {
	names := []string{MainModule}
	for n := range Modules() {
		if n != MainModule {
			names = append(names, n)
		}
	}
	sort.Strings(names[1:])
	return names
}
