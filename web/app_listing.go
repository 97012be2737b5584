package web

import (
	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// appListing saves the Settings tab's listing card: description, tags, icon and whether the
// app is in the public catalog. A refused field re-renders the tab with the message and the
// typed values; nothing is stored.
func (s *Server) appListing(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	in := models.ListingInput{Description: c.FormValue("description"), Tags: c.FormValue("tags"),
		IconURL: c.FormValue("icon_url"), Listed: c.FormValue("listed") == "true"}
	l, err := models.ValidateListing(in)
	if err != nil {
		fe, ok := models.AsFieldError(err)
		if !ok {
			return err
		}
		listed := ""
		if in.Listed {
			listed = "true"
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return s.renderAppSettings(c, a, views.SettingsTab{Listing: views.Form{
			Values: map[string]string{"description": sanitizeEcho(in.Description), "tags": sanitizeEcho(in.Tags), "icon_url": sanitizeEcho(in.IconURL), "listed": listed},
			Errors: map[string]string{fe.Field: fe.Message},
		}})
	}
	if err := s.store.SetAppListing(c.UserContext(), a, l); err != nil {
		return err
	}
	s.audit(c, &currentUser(c).ID, "app_listing", "app:"+a.Slug, map[bool]string{true: "listed", false: "unlisted"}[l.Listed])
	s.syncNow(a)
	msg := "Listing saved; the app is not in the public catalog."
	if l.Listed {
		msg = "Listing saved; the app is in the public catalog."
	}
	return s.redirectFlash(c, "/apps/"+a.Slug+"/settings#listing", msg)
}
