package web

import (
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/gofiber/fiber/v2"
)

// contentSecurityPolicy is every page's policy: nothing inline, nothing from elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// styleNonce lets this one response's scripts add <style> elements carrying the returned
// nonce: CodeMirror injects its generated styles that way (style-mod uses a <style> element for
// a document). Scripts stay 'self' only, and no other page gets a nonce.
func styleNonce(c *fiber.Ctx) string {
	n := models.NewSecret(16)
	c.Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy, "style-src 'self'", "style-src 'self' 'nonce-"+n+"'", 1))
	return n
}
