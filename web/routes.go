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
	// Middleware chains are spelled out per route: a fiber Group("") would
	// apply its middleware to every path, unknown ones included.
	page := func(h ...fiber.Handler) []fiber.Handler { return append([]fiber.Handler{s.loadSession, s.csrf}, h...) }
	user := func(h ...fiber.Handler) []fiber.Handler { return page(append([]fiber.Handler{s.requireUser}, h...)...) }
	admin := func(h ...fiber.Handler) []fiber.Handler {
		return user(append([]fiber.Handler{s.requireAdmin}, h...)...)
	}

	app.Get("/", page(s.landing)...)
	app.Get("/signup", page(s.signupShow)...)
	app.Post("/signup", page(s.rateLimited, s.signupSave)...)
	app.Get("/login", page(s.loginShow)...)
	app.Post("/login", page(s.rateLimited, s.loginSave)...)
	app.Post("/logout", page(s.logout)...)

	app.Get("/dashboard", user(s.dashboard)...)
	app.Get("/apps", user(s.appsList)...)
	app.Get("/billing", user(s.billingShow)...)
	app.Get("/usage", user(s.usageShow)...)
	app.Get("/settings", user(s.settingsShow)...)
	app.Post("/settings/password", user(s.passwordSave)...)
	app.Post("/settings/tokens", user(s.tokenCreate)...)
	app.Post("/settings/tokens/:id/revoke", user(s.tokenRevoke)...)

	app.Get("/admin/", admin(s.adminHome)...)
	app.Get("/admin/tenants", admin(s.adminTenants)...)

	// Unknown paths still get the session, so the 404 page shows the right navigation.
	app.Use(s.loadSession, s.csrf, s.notFound)
}
