package web

import (
	"errors"
	"strings"

	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

// apiErrorCodes maps statuses to the stable codes of the JSON error envelope.
var apiErrorCodes = map[int]string{
	400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
	409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
	500: "internal", 502: "bad_gateway", 503: "unavailable",
}

// apiError is an error with a stable code for the JSON API.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string { return e.Message }

func newAPIError(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// errorHandler renders every error: the JSON envelope under /api, a fragment
// for HTMX, a page otherwise. Internal errors never show their text.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, code, msg, field := fiber.StatusInternalServerError, "", "Something went wrong on our side. It has been logged; try again in a moment.", ""
	var ae *apiError
	var fe *fiber.Error
	var pe *problemsError
	// fiber routes case-insensitively: so must the choice of a JSON answer.
	path := strings.ToLower(c.Path())
	machine := strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/internal/") || strings.HasPrefix(path, "/discovery/")
	if errors.As(err, &pe) && machine {
		c.Status(pe.status)
		return c.JSON(fiber.Map{"error": fiber.Map{"code": pe.code, "message": pe.message, "problems": pe.problems}})
	}
	switch {
	case errors.As(err, &ae):
		status, code, msg, field = ae.Status, ae.Code, ae.Message, ae.Field
	case errors.As(err, &fe):
		status = fe.Code
		if status < 500 {
			msg = fe.Message
		}
		if err == fiber.ErrRequestTimeout {
			msg = "The request took too long to arrive, so it was dropped. Check your connection and send it again."
		}
		if err == fiber.ErrRequestEntityTooLarge {
			// fiber's server refused the body before reading it (its own
			// error value; handlers make new ones with their own words).
			ae = s.tooLarge(c)
			status, code, msg = ae.Status, ae.Code, ae.Message
			drainRefusedBody(c)
		}
	default:
		s.log.Error("request failed", "request_id", reqctx.RequestID(c), "path", c.Path(), "err", err)
	}
	if status >= 500 && fe != nil {
		s.log.Error("request failed", "request_id", reqctx.RequestID(c), "path", c.Path(), "status", status, "err", err)
	}
	if code == "" {
		code = apiErrorCodes[status]
		if code == "" {
			code = "error"
		}
	}
	c.Status(status)
	if machine {
		body := fiber.Map{"code": code, "message": msg}
		if field != "" {
			body["field"] = field
		}
		return c.JSON(fiber.Map{"error": body})
	}
	if isHTMX(c) {
		// htmx 2 does not swap 4xx/5xx bodies by default; the page shows them
		// through the htmx:responseError hook in static/js/app.js.
		return render(c, views.ErrorFragment(msg))
	}
	return render(c, views.ErrorPage(s.page(c, "Error"), status, msg))
}

func (s *Server) notFound(c *fiber.Ctx) error {
	return fiber.NewError(fiber.StatusNotFound, "There is no page here.")
}

// sentence makes an error message that starts in lower case, as Go's do, into a sentence.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}
