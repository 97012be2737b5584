package web

import "github.com/402claw/402claw/web/reqctx"

// The request helpers live in web/reqctx, shared with web/billing; these short names keep
// the handlers readable.
var (
	isHTMX     = reqctx.IsHTMX
	hxRedirect = reqctx.Redirect
	render     = reqctx.Render
)
