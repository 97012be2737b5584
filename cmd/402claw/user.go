package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/402claw/402claw/models"
)

// userCreate is the operator's way in when sign-up is closed, and how the
// first admin is made.
func userCreate(ctx context.Context, cfg *Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email address (required)")
	password := fs.String("password", "", "password, at least 10 characters (required)")
	admin := fs.Bool("admin", false, "make the user an admin")
	tenant := fs.String("tenant", "", "add the user to this existing tenant (slug); without it a tenant named after the email is created, unless --admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	norm, err := models.NormalizeEmail(*email)
	if err != nil {
		return fmt.Errorf("--email: %v", fieldMsg(err))
	}
	if err := models.ValidatePassword(*password); err != nil {
		return fmt.Errorf("--password: %v", fieldMsg(err))
	}
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	if err := models.CheckSchema(db); err != nil {
		return err
	}
	store := models.NewStore(db)
	hash, err := models.HashPassword(*password)
	if err != nil {
		return err
	}
	role := models.RoleTenant
	if *admin {
		role = models.RoleAdmin
	}
	var u *models.User
	switch {
	case *tenant != "":
		t, err := store.TenantBySlug(ctx, *tenant)
		if errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("--tenant: no tenant with slug %q", *tenant)
		} else if err != nil {
			return err
		}
		u, err = store.CreateUser(ctx, norm, hash, role, &t.ID)
		if err != nil {
			return explainUserErr(err)
		}
	case *admin:
		u, err = store.CreateUser(ctx, norm, hash, role, nil)
		if err != nil {
			return explainUserErr(err)
		}
	default:
		u, _, err = store.SignUp(ctx, norm, hash, norm[:indexAt(norm)], role)
		if err != nil {
			return explainUserErr(err)
		}
	}
	_ = store.Audit(ctx, nil, "user_created_by_operator", "user:"+u.Email, role, "cli")
	fmt.Fprintf(stdout, "created %s user %s (id %d)\n", role, u.Email, u.ID)
	return nil
}

func indexAt(s string) int {
	for i := range s {
		if s[i] == '@' {
			return i
		}
	}
	return len(s)
}

func fieldMsg(err error) string {
	if fe, ok := models.AsFieldError(err); ok {
		return fe.Message
	}
	return err.Error()
}

func explainUserErr(err error) error {
	if errors.Is(err, models.ErrEmailTaken) {
		return errors.New("--email: a user with this email already exists")
	}
	return err
}
