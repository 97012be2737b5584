package web

import (
	"net/http"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/static"
	"github.com/402claw/402claw/web/billing"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// favicon answers browsers' icon requests (SVG, which every current browser takes for /favicon.ico too).
func favicon(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "image/svg+xml")
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	return c.Send(static.Favicon)
}

// routes is the whole URL map of the portal on one screen.
func (s *Server) routes(app *fiber.App) {
	app.Use(s.recoverer, s.requestID, s.observe, s.securityHeaders, s.refuseEncodedBodies)

	app.Use("/static", filesystem.New(filesystem.Config{Root: static.FS(), MaxAge: 3600}))
	app.Get("/favicon.ico", favicon)
	app.Get("/favicon.svg", favicon)
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsHandler())
	for _, m := range s.opts.Mounts {
		app.All(m.Prefix+"/*", adaptor.HTTPHandler(http.StripPrefix(m.Prefix, m.Handler)))
	}
	if b := s.opts.Billing; b != nil {
		// Stripe signs its webhooks; sessions and CSRF do not apply.
		app.Post("/stripe/webhook", b.Webhook)
	}

	// JSON API: bearer tokens, no cookies, no CSRF (JSON-only bodies cannot be forged cross-site).
	api := app.Group("/api/v1", s.apiJSON)
	api.Get("/openapi.json", s.apiOpenAPI)
	api.Post("/signup", s.rateLimited, s.apiSignup)
	api.Post("/tokens", s.rateLimited, s.apiTokenCreate)
	api.Post("/reports", s.rateLimited, s.apiReport)
	api.Get("/me", s.apiAuth, s.apiMe)
	api.Get("/apps", s.apiAuth, s.apiApps)
	api.Post("/apps", s.apiAuth, s.apiAppCreate)
	api.Get("/apps/:slug", s.apiAuth, s.apiAppGet)
	api.Patch("/apps/:slug", s.apiAuth, s.apiAppPatch)
	api.Delete("/apps/:slug", s.apiAuth, s.apiAppDelete)
	api.Get("/apps/:slug/versions", s.apiAuth, s.apiVersions)
	api.Post("/apps/:slug/versions", s.apiAuth, s.apiVersionCreate)
	api.Post("/apps/:slug/deployments", s.apiAuth, s.apiDeploy)
	api.Get("/apps/:slug/deployments/:id", s.apiAuth, s.apiDeployment)
	api.Put("/apps/:slug/vars/:name", s.apiAuth, s.apiVarPut)
	api.Delete("/apps/:slug/vars/:name", s.apiAuth, s.apiVarDelete)
	api.Get("/apps/:slug/routes", s.apiAuth, s.apiRoutes)
	api.Put("/apps/:slug/routes", s.apiAuth, s.apiRoutesPut)
	api.Get("/apps/:slug/egress", s.apiAuth, s.apiEgress)
	api.Put("/apps/:slug/egress", s.apiAuth, s.apiEgressPut)
	api.Get("/apps/:slug/usage", s.apiAuth, s.apiUsage)
	api.Get("/apps/:slug/payments", s.apiAuth, s.apiPayments)
	api.Get("/apps/:slug/logs", s.apiAuth, s.apiLogs)

	// The public catalog in the bazaar discovery format: no session, read-only JSON.
	app.Get("/discovery/resources", s.discoveryResources)

	// The dispatcher's telemetry: a bearer ingest token, no session, no CSRF.
	app.Post("/internal/telemetry", s.ingestTelemetry)

	// Browser pages: session cookie, CSRF on every state-changing request.
	// Middleware chains are spelled out per route: a fiber Group("") would
	// apply its middleware to every path, unknown ones included.
	page := func(h ...fiber.Handler) []fiber.Handler { return append([]fiber.Handler{s.loadSession, s.csrf}, h...) }
	user := func(h ...fiber.Handler) []fiber.Handler { return page(append([]fiber.Handler{s.requireUser}, h...)...) }
	admin := func(h ...fiber.Handler) []fiber.Handler {
		return user(append([]fiber.Handler{s.requireAdmin}, h...)...)
	}

	app.Get("/", page(s.landing)...)
	app.Get("/docs", page(s.docs)...)
	// What consumers and agents read of listed apps: no account needed.
	app.Get("/catalog", page(s.catalog)...)
	app.Get("/a/:slug", page(s.appDocs)...)
	app.Get("/a/:slug/llms.txt", s.appLLMs)
	app.Get("/a/:slug/openapi.json", s.appOpenAPI)
	app.Get("/llms.txt", s.platformLLMs)
	app.Get("/signup", page(s.signupShow)...)
	app.Post("/signup", page(s.rateLimited, s.signupSave)...)
	app.Get("/login", page(s.loginShow)...)
	app.Post("/login", page(s.rateLimited, s.loginSave)...)
	app.Post("/logout", page(s.logout)...)
	app.Get("/report", page(s.reportForm)...)
	app.Post("/report", page(s.rateLimited, s.reportSave)...)

	app.Get("/dashboard", user(s.dashboard)...)
	app.Get("/apps", user(s.appsList)...)
	app.Post("/apps", user(s.appCreate)...)
	app.Get("/apps/:slug", user(s.appCode)...)
	app.Post("/apps/:slug/versions", user(s.appVersionSave)...)
	app.Post("/apps/:slug/check", user(s.appCheck)...)
	app.Post("/apps/:slug/console", user(s.appConsole)...)
	app.Get("/apps/:slug/console/logs", user(s.appConsoleLogs)...)
	app.Get("/apps/:slug/versions", user(s.appVersions)...)
	app.Post("/apps/:slug/deployments", user(s.appDeploy)...)
	app.Get("/apps/:slug/deployments/:id", user(s.appDeployment)...)
	app.Get("/apps/:slug/settings", user(s.appSettings)...)
	app.Post("/apps/:slug/rename", user(s.appRename)...)
	app.Post("/apps/:slug/listing", user(s.appListing)...)
	app.Post("/apps/:slug/kv", user(s.appKV)...)
	app.Post("/apps/:slug/vars", user(s.appVarSet)...)
	app.Post("/apps/:slug/vars/:name/delete", user(s.appVarDelete)...)
	app.Post("/apps/:slug/delete", user(s.appDelete)...)
	app.Post("/apps/:slug/resume", user(s.appResume)...)
	app.Get("/apps/:slug/routes", user(s.appRoutes)...)
	app.Post("/apps/:slug/routes", user(s.routeCreate)...)
	app.Post("/apps/:slug/routes/:id", user(s.routeUpdate)...)
	app.Post("/apps/:slug/routes/:id/delete", user(s.routeDelete)...)
	app.Post("/apps/:slug/routes/:id/move", user(s.routeMove)...)
	app.Post("/apps/:slug/routes/:id/try", user(s.routeTry)...)
	app.Get("/apps/:slug/access", user(s.appAccess)...)
	app.Post("/apps/:slug/keys", user(s.keyCreate)...)
	app.Post("/apps/:slug/keys/:id/revoke", user(s.keyRevoke)...)
	app.Post("/apps/:slug/egress", user(s.egressAdd)...)
	app.Post("/apps/:slug/egress/:id/delete", user(s.egressRemove)...)
	app.Get("/apps/:slug/payments", user(s.appPayments)...)
	app.Get("/apps/:slug/usage", user(s.appUsage)...)
	app.Get("/apps/:slug/usage.csv", user(s.appUsageCSV)...)
	app.Get("/apps/:slug/payments.csv", user(s.appPaymentsCSV)...)
	app.Get("/apps/:slug/logs", user(s.appLogs)...)
	app.Get("/apps/:slug/logs/live", user(s.appLogsLive)...)
	if b := s.opts.Billing; b != nil {
		app.Get("/pricing", page(b.Pricing)...)
		app.Get("/billing", user(b.Page)...)
		app.Post("/billing/checkout", user(b.Checkout)...)
		app.Post("/billing/portal", user(b.Portal)...)
		if b.Mode() == billing.ModeDemo {
			// Demo checkout upgrades without paying: only where the operator asked for it (CLAW_BILLING=demo).
			app.Get("/billing/demo-checkout", user(b.DemoCheckout)...)
			app.Post("/billing/demo-checkout", user(b.DemoPay)...)
			app.Post("/billing/demo-cancel", user(b.DemoCancel)...)
		}
		app.Get("/admin/plans", admin(b.AdminPlans)...)
		app.Post("/admin/plans/:key", admin(b.AdminPlanSave)...)
		app.Post("/admin/tenants/:slug/plan", admin(b.AdminAssignPlan)...)
	} else {
		app.Get("/billing", user(s.billingShow)...)
	}
	app.Get("/usage", user(s.usageShow)...)
	app.Get("/usage.csv", user(s.usageCSVShow)...)
	app.Get("/settings", user(s.settingsShow)...)
	app.Post("/settings/password", user(s.passwordSave)...)
	app.Post("/settings/wallets", user(s.walletSave)...)
	app.Post("/settings/tokens", user(s.tokenCreate)...)
	app.Post("/settings/tokens/:id/revoke", user(s.tokenRevoke)...)

	app.Get("/admin/", admin(s.adminHome)...)
	app.Get("/admin/tenants", admin(s.adminTenants)...)
	app.Get("/admin/economics", admin(s.adminEconomics)...)
	app.Post("/admin/economics", admin(s.adminEconomicsSave)...)
	app.Get("/admin/sync", admin(s.adminSync)...)
	app.Get("/admin/facilitators", admin(s.adminFacilitators)...)
	app.Post("/admin/facilitators", admin(s.adminFacilitatorSave)...)
	app.Post("/admin/facilitators/check", admin(s.adminFacilitatorsCheck)...)
	app.Get("/admin/facilitators/:id", admin(s.adminFacilitatorEdit)...)
	app.Post("/admin/facilitators/:id", admin(s.adminFacilitatorSave)...)
	app.Post("/admin/facilitators/:id/delete", admin(s.adminFacilitatorDelete)...)
	app.Get("/admin/tenants/:slug", admin(s.adminTenant)...)
	app.Get("/admin/tenants/:slug/suspend", admin(s.adminTenantStatus(models.TenantSuspended))...)
	app.Post("/admin/tenants/:slug/suspend", admin(s.adminTenantStatus(models.TenantSuspended))...)
	app.Get("/admin/tenants/:slug/apps/:app/:action", admin(s.adminAppAction)...)
	app.Post("/admin/tenants/:slug/apps/:app/:action", admin(s.adminAppAction)...)
	app.Get("/admin/tenants/:slug/all-apps/:action", admin(s.adminTenantAction)...)
	app.Post("/admin/tenants/:slug/all-apps/:action", admin(s.adminTenantAction)...)
	app.Post("/admin/tenants/:slug/reinstate", admin(s.adminTenantStatus(models.TenantActive))...)
	app.Get("/admin/review", admin(s.adminReview)...)
	app.Get("/admin/review/:id", admin(s.adminReviewItem)...)
	app.Post("/admin/review/:id/decision", admin(s.adminReviewDecision)...)
	app.Get("/admin/reports", admin(s.adminReports)...)
	app.Get("/admin/audit", admin(s.adminAudit)...)
	app.Get("/admin/audit.csv", admin(s.adminAuditCSV)...)
	app.Post("/admin/reports/:id/decision", admin(s.adminReportDecision)...)
	app.Get("/admin/rules", admin(s.adminRules)...)
	app.Post("/admin/rules", admin(s.adminRuleCreate)...)
	app.Get("/admin/rules/:id", admin(s.adminRule)...)
	app.Post("/admin/rules/:id", admin(s.adminRuleUpdate)...)
	app.Post("/admin/rules/:id/toggle", admin(s.adminRuleToggle)...)
	app.Get("/admin/rules/:id/delete", admin(s.adminRuleDeleteConfirm)...)
	app.Post("/admin/rules/:id/delete", admin(s.adminRuleDelete)...)
	app.Post("/admin/rescan", admin(s.adminRescanStart)...)
	app.Get("/admin/rescan", admin(s.adminRescanStatus)...)
	app.Post("/admin/plans/:key/review-policy", admin(s.adminPlanPolicy)...)
	app.Post("/admin/tenants/:slug/review-policy", admin(s.adminTenantPolicy)...)

	// Unknown paths still get the session, so the 404 page shows the right navigation.
	app.Use(s.loadSession, s.csrf, s.notFound)
}
