package web

import (
	"errors"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) signupShow(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	return render(c, views.Signup(s.page(c, "Sign up"), views.Form{}))
}

// signupInput is what both the page and the API accept.
type signupInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Tenant   string `json:"tenant"`
}

// validate normalizes the input and returns every field error at once.
func (in *signupInput) validate() map[string]string {
	errs := map[string]string{}
	email, err := models.NormalizeEmail(in.Email)
	if fe, ok := models.AsFieldError(err); ok {
		errs["email"] = fe.Message
	}
	in.Email = email
	if fe, ok := models.AsFieldError(models.ValidatePassword(in.Password)); ok {
		errs["password"] = fe.Message
	}
	name, err := models.ValidateTenantName(in.Tenant)
	if fe, ok := models.AsFieldError(err); ok {
		errs["tenant"] = fe.Message
	}
	in.Tenant = name
	return errs
}

// signUp is shared by the page and the API.
func (s *Server) signUp(c *fiber.Ctx, in signupInput) (*models.User, map[string]string, error) {
	if errs := in.validate(); len(errs) > 0 {
		return nil, errs, nil
	}
	hash, err := models.HashPassword(in.Password)
	if err != nil {
		return nil, nil, err
	}
	u, t, err := s.store.SignUp(c.UserContext(), in.Email, hash, in.Tenant, models.RoleTenant)
	if errors.Is(err, models.ErrEmailTaken) {
		return nil, map[string]string{"email": "An account with this email already exists. Log in instead."}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	s.audit(c, &u.ID, "signup", "tenant:"+t.Slug, u.Email)
	return u, nil, nil
}

func (s *Server) signupSave(c *fiber.Ctx) error {
	if !s.opts.SignupOpen {
		return fiber.NewError(fiber.StatusForbidden, "Sign-up is closed on this installation.")
	}
	in := signupInput{Email: c.FormValue("email"), Password: c.FormValue("password"), Tenant: c.FormValue("tenant")}
	u, errs, err := s.signUp(c, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		c.Status(fiber.StatusUnprocessableEntity)
		f := views.Form{Values: map[string]string{"email": sanitizeEcho(in.Email), "tenant": sanitizeEcho(in.Tenant)}, Errors: errs, Message: "Please fix the fields below."}
		return render(c, views.Signup(s.page(c, "Sign up"), f))
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	return c.Redirect("/dashboard", fiber.StatusSeeOther)
}

// sanitizeEcho keeps re-displayed values short and valid UTF-8.
func sanitizeEcho(v string) string {
	if len(v) > 300 {
		v = v[:300]
	}
	return toValidUTF8(v)
}
