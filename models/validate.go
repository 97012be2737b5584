package models

import (
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is a validation failure that names the form field it belongs to.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, msg string) error { return &FieldError{Field: field, Message: msg} }

// AsFieldError unwraps a *FieldError.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

// NormalizeEmail trims and lower-cases an address and checks its shape.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fieldErr("email", "Enter your email address.")
	case !utf8.ValidString(s):
		return "", fieldErr("email", "The email address is not valid text (UTF-8).")
	case len(s) > 254:
		return "", fieldErr("email", "The email address is too long (254 characters at most).")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", fieldErr("email", "That does not look like an email address.")
	}
	return strings.ToLower(s), nil
}

// ValidatePassword enforces length rather than character classes (NIST 800-63B).
func ValidatePassword(p string) error {
	switch {
	case !utf8.ValidString(p):
		return fieldErr("password", "The password is not valid text (UTF-8).")
	case utf8.RuneCountInString(p) < 10:
		return fieldErr("password", "Use at least 10 characters.")
	case len(p) > 256:
		return fieldErr("password", "Use at most 256 bytes.")
	}
	lower := strings.ToLower(p)
	for _, weak := range []string{"password", "1234567890", "qwertyuiop", "0123456789", "letmein", "iloveyou"} {
		if strings.Contains(lower, weak) && len(lower) < len(weak)+4 {
			return fieldErr("password", "That password is too easy to guess; pick another.")
		}
	}
	if allSame(p) {
		return fieldErr("password", "That password is too easy to guess; pick another.")
	}
	return nil
}

func allSame(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return true
}

// ValidateTenantName checks the display name a tenant picks at sign-up.
func ValidateTenantName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fieldErr("tenant", "Name your account (your company or project).")
	case !utf8.ValidString(s):
		return "", fieldErr("tenant", "The name is not valid text (UTF-8).")
	case utf8.RuneCountInString(s) > 100:
		return "", fieldErr("tenant", "Use at most 100 characters.")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", fieldErr("tenant", "The name contains control characters.")
		}
	}
	if Slugify(s) == "" {
		return "", fieldErr("tenant", "Use at least one letter or digit.")
	}
	return s, nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// Slugify turns a display name into [a-z0-9-], at most 40 characters.
func Slugify(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < 128 {
			b.WriteRune(r)
		} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune('-')
		}
	}
	out := strings.Trim(nonSlug.ReplaceAllString(b.String(), "-"), "-")
	if len(out) > 40 {
		out = strings.TrimRight(out[:40], "-")
	}
	return out
}
