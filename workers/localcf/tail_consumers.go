package localcf

import (
	"encoding/json"
	"strings"
)

// tailConsumer is one entry of metadata.tail_consumers: the Worker that receives this
// script's trace events (console lines, exceptions, outcome) after each invocation.
type tailConsumer struct {
	Service     string `json:"service"`
	Environment string `json:"environment,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
}

// checkTailConsumers validates metadata.tail_consumers as Cloudflare does: a list of
// objects, each naming with "service" a Worker that exists (a normal worker of the
// account, or a script of the named dispatch namespace), never the script itself.
// Call with s.mu held.
func (s *Server) checkTailConsumers(meta map[string]json.RawMessage, self string, selfNS *dispatchNamespace) error {
	raw, ok := meta["tail_consumers"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var tcs []tailConsumer
	if err := json.Unmarshal(raw, &tcs); err != nil {
		return badRequest("could not parse metadata.tail_consumers: expected a list of {\"service\": \"<worker name>\"}: %v", err)
	}
	for i, tc := range tcs {
		name := strings.TrimSpace(tc.Service)
		if name == "" {
			return badRequest("metadata.tail_consumers[%d].service is required", i)
		}
		if tc.Namespace == "" && selfNS == nil && name == self {
			return badRequest("metadata.tail_consumers[%d]: a Worker cannot be its own tail consumer", i)
		}
		scripts := s.workers
		if tc.Namespace != "" {
			ns := s.namespaces[tc.Namespace]
			if ns == nil {
				return errNamespaceNotFound(tc.Namespace)
			}
			scripts = ns.scripts
		}
		if scripts[name] == nil {
			where := "this account"
			if tc.Namespace != "" {
				where = "dispatch namespace " + tc.Namespace
			}
			return badRequest("metadata.tail_consumers[%d]: the tail consumer %q is not a Worker in %s; upload it first", i, name, where)
		}
	}
	return nil
}
