package web

import (
	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
)

// isHTMX reports an htmx request (not a boosted full navigation).
func isHTMX(c *fiber.Ctx) bool {
	return c.Get("HX-Request") == "true" && c.Get("HX-Boosted") != "true"
}

// hxRedirect sends the browser to url: a header for htmx, a 303 otherwise.
func hxRedirect(c *fiber.Ctx, url string) error {
	if isHTMX(c) {
		c.Set("HX-Redirect", url)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(url, fiber.StatusSeeOther)
}

// render streams a templ component into the response without buffering.
func render(c *fiber.Ctx, comp templ.Component) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}
