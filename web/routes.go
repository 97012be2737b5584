package web

import (
	"github.com/402claw/402claw/static"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// routes is the whole URL map of the portal on one screen.
func (s *Server) routes(app *fiber.App) {
	app.Use(s.recoverer, s.requestID, s.observe, s.securityHeaders)

	app.Use("/static", filesystem.New(filesystem.Config{Root: static.FS(), MaxAge: 3600}))
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsHandler())

	// JSON API: bearer tokens, no cookies, no CSRF (JSON-only bodies cannot be forged cross-site).
	api := app.Group("/api/v1", s.apiJSON)
	api.Get("/openapi.json", s.apiOpenAPI)
	api.Post("/signup", s.rateLimited, s.apiSignup)
	api.Post("/tokens", s.rateLimited, s.apiTokenCreate)
	api.Get("/me", s.apiAuth, s.apiMe)

	// Browser pages: session cookie, CSRF on every state-changing request.
	web := app.Group("", s.loadSession, s.csrf)
	web.Get("/", s.landing)
	web.Get("/signup", s.signupShow)
	web.Post("/signup", s.rateLimited, s.signupSave)
	web.Get("/login", s.loginShow)
	web.Post("/login", s.rateLimited, s.loginSave)
	web.Post("/logout", s.logout)

	tenant := web.Group("", s.requireUser)
	tenant.Get("/dashboard", s.dashboard)
	tenant.Get("/apps", s.appsList)
	tenant.Get("/billing", s.billingShow)
	tenant.Get("/usage", s.usageShow)
	tenant.Get("/settings", s.settingsShow)
	tenant.Post("/settings/password", s.passwordSave)
	tenant.Post("/settings/tokens", s.tokenCreate)
	tenant.Post("/settings/tokens/:id/revoke", s.tokenRevoke)

	admin := web.Group("/admin", s.requireUser, s.requireAdmin)
	admin.Get("/", s.adminHome)
	admin.Get("/tenants", s.adminTenants)

	app.Use(s.notFound)
}
