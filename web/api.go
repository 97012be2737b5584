package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

const localAPIUser = "api_user"

// apiJSON enforces the API's content type: bodies must be JSON (multipart
// where an endpoint says so), which also makes cross-site forgery impossible.
func (s *Server) apiJSON(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch:
		if len(c.Body()) == 0 && c.Get(fiber.HeaderContentType) == "" {
			break // a bodiless POST (deploy the newest version) needs no type
		}
		mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
		if err != nil || (mt != fiber.MIMEApplicationJSON && mt != fiber.MIMEMultipartForm) {
			return newAPIError(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json (multipart/form-data for uploading files to /apps/{slug}/versions).")
		}
	}
	return c.Next()
}

// apiAuth authenticates "Authorization: Bearer claw_…".
func (s *Server) apiAuth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" {
		return newAPIError(fiber.StatusUnauthorized, "unauthorized", "Send an API token: Authorization: Bearer claw_…")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(tok, models.TokenPrefix) {
		return newAPIError(fiber.StatusUnauthorized, "unauthorized", "Malformed Authorization header; expected Bearer claw_…")
	}
	u, err := s.store.UserByAPIToken(c.UserContext(), strings.TrimSpace(tok))
	if errors.Is(err, models.ErrNotFound) {
		return newAPIError(fiber.StatusUnauthorized, "unauthorized", "The token is unknown or revoked.")
	}
	if err != nil {
		return err
	}
	c.Locals(localAPIUser, u)
	reqctx.SetUser(c, u)
	return c.Next()
}

func apiUser(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(localAPIUser).(*models.User)
	return u
}

// decodeJSON reads exactly one JSON object into v: unknown fields, trailing
// data, invalid UTF-8 and wrong types are 400s that name the problem.
func decodeJSON(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return newAPIError(fiber.StatusBadRequest, "bad_request", "The request body is empty; send a JSON object.")
	}
	if !utf8.Valid(body) {
		return newAPIError(fiber.StatusBadRequest, "bad_request", "The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return newAPIError(fiber.StatusBadRequest, "bad_request", fmt.Sprintf("Malformed JSON at byte %d.", se.Offset))
		case errors.As(err, &te):
			return newAPIError(fiber.StatusBadRequest, "bad_request", fmt.Sprintf("Field %q must be a %s.", te.Field, te.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return newAPIError(fiber.StatusBadRequest, "unknown_field", "Unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field ")+".")
		default:
			return newAPIError(fiber.StatusBadRequest, "bad_request", "Malformed JSON body.")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return newAPIError(fiber.StatusBadRequest, "bad_request", "Send exactly one JSON object.")
	}
	return nil
}

// fieldErrors turns validation messages into one 422 with the first field named.
func fieldErrors(errs map[string]string) error {
	for _, k := range []string{"email", "password", "tenant", "name"} {
		if m, ok := errs[k]; ok {
			return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: m, Field: k}
		}
	}
	for k, m := range errs {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: m, Field: k}
	}
	return nil
}

func (s *Server) apiSignup(c *fiber.Ctx) error {
	if !s.opts.SignupOpen {
		return newAPIError(fiber.StatusForbidden, "signup_closed", "Sign-up is closed on this installation.")
	}
	var in signupInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, errs, err := s.signUp(c, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		if m, ok := errs["email"]; ok && strings.Contains(m, "already exists") {
			return &apiError{Status: fiber.StatusConflict, Code: "email_taken", Message: m, Field: "email"}
		}
		return fieldErrors(errs)
	}
	_, secret, err := s.store.CreateAPIToken(c.UserContext(), u.ID, "signup", 0)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": secret})
}

func (s *Server) apiTokenCreate(c *fiber.Ctx) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
		// ExpiresInDays, when set, makes the token stop working that many days from now.
		ExpiresInDays *int `json:"expires_in_days"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	var validFor time.Duration
	if in.ExpiresInDays != nil {
		d := *in.ExpiresInDays
		if d < 1 || d > models.MaxTokenDays {
			return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: fmt.Sprintf("expires_in_days must be from 1 to %d, or omitted for a token that does not expire.", models.MaxTokenDays), Field: "expires_in_days"}
		}
		validFor = time.Duration(d) * 24 * time.Hour
	}
	u, err := s.authenticate(c, in.Email, in.Password)
	if errors.Is(err, models.ErrNotFound) {
		return newAPIError(fiber.StatusUnauthorized, "unauthorized", errBadLogin)
	}
	if err != nil {
		return err
	}
	name := "api"
	if in.Name != "" {
		n, msg := tokenName(in.Name)
		if msg != "" {
			return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: msg, Field: "name"}
		}
		name = n
	}
	tok, secret, err := s.store.CreateAPIToken(c.UserContext(), u.ID, name, validFor)
	if err != nil {
		return err
	}
	s.audit(c, &u.ID, "token_created", "api", name)
	out := fiber.Map{"token": secret}
	if tok.ExpiresAt != nil {
		out["expires_at"] = tok.ExpiresAt.Format(time.RFC3339)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (s *Server) apiMe(c *fiber.Ctx) error {
	u := apiUser(c)
	out := fiber.Map{"email": u.Email, "role": u.Role, "tenant": nil}
	if u.Tenant != nil {
		out["tenant"] = fiber.Map{"slug": u.Tenant.Slug, "plan": u.Tenant.PlanKey, "status": u.Tenant.Status}
	}
	return c.JSON(out)
}
