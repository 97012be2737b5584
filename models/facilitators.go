package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/402claw/402claw/models/x402"
	"gorm.io/gorm"
)

// Facilitator is an x402 facilitator the operator configured: where it answers, which networks
// it settles for this platform, and how the dispatcher authenticates to it. Secret is the sealed
// credential (OpenFacilitatorSecret): a bearer token, or the JSON of the JWT signing key that
// workers.FacilitatorAuth reads. Supported is the JSON of its last GET /supported answer.
type Facilitator struct {
	ID         uint   `gorm:"primaryKey"`
	URL        string `gorm:"size:500;not null;uniqueIndex"`
	Networks   string `gorm:"size:500;not null;default:''"` // CAIP-2 ids, comma-separated
	AuthType   string `gorm:"size:8;not null;default:'none'"`
	KeyID      string `gorm:"size:300;not null;default:''"`
	Alg        string `gorm:"size:8;not null;default:''"`
	Secret     []byte
	Position   int    `gorm:"not null;default:0"`
	Supported  string `gorm:"type:text;not null;default:''"`
	CheckedAt  *time.Time
	CheckError string `gorm:"size:500;not null;default:''"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Authentication types of a facilitator.
const (
	FacilitatorAuthNone   = "none"
	FacilitatorAuthBearer = "bearer"
	FacilitatorAuthJWT    = "jwt"
)

// NetworkList is Networks as a slice.
func (f Facilitator) NetworkList() []string {
	if f.Networks == "" {
		return nil
	}
	return strings.Split(f.Networks, ",")
}

// FacilitatorInput is the operator's form. Secret is the credential as the operator pasted it
// (empty on an edit: keep the stored one).
type FacilitatorInput struct {
	URL      string
	Networks []string
	AuthType string
	KeyID    string
	Secret   string
}

// ValidateFacilitator checks what needs no network: the URL (https, or http when allowHTTP, as
// on a local edge), the networks (known to 402claw, at least one) and the auth type with its
// fields. Whether the key parses and the facilitator settles the networks is for the caller
// (workers.JWTAuth, workers.ProbeSupported). hasSecret says a credential is stored already.
func ValidateFacilitator(in FacilitatorInput, allowHTTP, hasSecret bool) (Facilitator, error) {
	raw := strings.TrimSpace(in.URL)
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return Facilitator{}, fieldErr("url", "Enter the facilitator's URL, like https://api.cdp.coinbase.com/platform/v2/x402.")
	case len(raw) > 500:
		return Facilitator{}, fieldErr("url", "Use at most 500 characters.")
	case err != nil || u.Host == "" || u.Opaque != "":
		return Facilitator{}, fieldErr("url", "This is not a URL; write it like https://facilitator.example.com/x402.")
	case u.User != nil:
		return Facilitator{}, fieldErr("url", "Leave credentials out of the URL; choose an authentication below.")
	case u.RawQuery != "" || u.Fragment != "":
		return Facilitator{}, fieldErr("url", "The URL is the base the facilitator API hangs off (…/verify, …/settle): no query or fragment.")
	case u.Scheme == "http" && !allowHTTP:
		return Facilitator{}, fieldErr("url", "Use https: payments and credentials never travel in clear text (http is only for a local edge).")
	case u.Scheme != "https" && u.Scheme != "http":
		return Facilitator{}, fieldErr("url", "Use an https URL.")
	}
	f := Facilitator{URL: strings.TrimRight(u.String(), "/")}
	var nets []string
	for _, n := range in.Networks {
		n = strings.TrimSpace(n)
		if n == "" || slices.Contains(nets, n) {
			continue
		}
		if _, ok := x402.NetworkByCAIP2(n); !ok {
			return Facilitator{}, fieldErr("networks", fmt.Sprintf("402claw does not know the network %q: choose among those listed.", clipFac(n, 40)))
		}
		nets = append(nets, n)
	}
	if len(nets) == 0 {
		return Facilitator{}, fieldErr("networks", "Choose at least one network this facilitator settles.")
	}
	f.Networks = strings.Join(nets, ",")
	f.AuthType = strings.TrimSpace(in.AuthType)
	switch f.AuthType {
	case "", FacilitatorAuthNone:
		f.AuthType = FacilitatorAuthNone
	case FacilitatorAuthBearer:
		if strings.TrimSpace(in.Secret) == "" && !hasSecret {
			return Facilitator{}, fieldErr("secret", "Paste the bearer token the facilitator gave you.")
		}
		if strings.ContainsAny(strings.TrimSpace(in.Secret), " \r\n\t") {
			return Facilitator{}, fieldErr("secret", "A bearer token has no spaces or line breaks.")
		}
	case FacilitatorAuthJWT:
		f.KeyID = strings.TrimSpace(in.KeyID)
		if f.KeyID == "" {
			return Facilitator{}, fieldErr("key_id", "Enter the API key's id (CDP: organizations/…/apiKeys/… or the key's UUID).")
		}
		if len(f.KeyID) > 300 {
			return Facilitator{}, fieldErr("key_id", "Use at most 300 characters.")
		}
		if strings.TrimSpace(in.Secret) == "" && !hasSecret {
			return Facilitator{}, fieldErr("secret", "Paste the API key's private key (Ed25519 as base64, or an EC P-256 key as PEM).")
		}
	default:
		return Facilitator{}, fieldErr("auth_type", "Choose none, a bearer token or a signed JWT.")
	}
	if len(in.Secret) > 8<<10 {
		return Facilitator{}, fieldErr("secret", "That is far longer than any key or token (8 KiB at most).")
	}
	return f, nil
}

func clipFac(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func facilitatorAAD(u string) []byte { return []byte("402claw facilitator " + u) }

// OpenFacilitatorSecret decrypts a facilitator's credential (nil when it has none).
func OpenFacilitatorSecret(key []byte, f Facilitator) ([]byte, error) {
	if len(f.Secret) == 0 {
		return nil, nil
	}
	b, err := OpenSecret(key, f.Secret, facilitatorAAD(f.URL))
	if err != nil {
		return nil, fmt.Errorf("store: unable to decrypt the credential of facilitator %s: %w", f.URL, err)
	}
	return b, nil
}

// ErrFacilitatorExists is returned when a second facilitator is saved under a URL in use.
var ErrFacilitatorExists = errors.New("a facilitator with this URL is configured already")

// Facilitators returns the configured facilitators in their order: for a network, the first
// one listing it settles.
func (s *Store) Facilitators(ctx context.Context) ([]Facilitator, error) {
	var fs []Facilitator
	if err := s.db.WithContext(ctx).Order("position, id").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list facilitators: %w", err)
	}
	return fs, nil
}

// FacilitatorByID returns one facilitator or ErrNotFound.
func (s *Store) FacilitatorByID(ctx context.Context, id uint) (*Facilitator, error) {
	return take[Facilitator](s.db.WithContext(ctx).Where("id = ?", id), fmt.Sprintf("read facilitator %d", id))
}

// SaveFacilitator creates (f.ID == 0) or updates a facilitator. secret is the credential to seal
// (nil keeps the stored one, re-sealed when the URL changed; a type without credential drops
// it). supported is its /supported answer just read, as JSON.
func (s *Store) SaveFacilitator(ctx context.Context, f *Facilitator, secret []byte, supported string, key []byte) error {
	now := time.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur Facilitator
		if f.ID != 0 {
			got, err := take[Facilitator](tx.Where("id = ?", f.ID), fmt.Sprintf("read facilitator %d", f.ID))
			if err != nil {
				return err
			}
			cur = *got
			f.Position, f.CreatedAt = cur.Position, cur.CreatedAt
		} else {
			var maxPos *int
			if err := tx.Model(&Facilitator{}).Select("MAX(position)").Scan(&maxPos).Error; err != nil {
				return err
			}
			if maxPos != nil {
				f.Position = *maxPos + 1
			}
		}
		switch {
		case f.AuthType == FacilitatorAuthNone:
			f.Secret = nil
		case secret != nil:
			sealed, err := SealSecret(key, secret, facilitatorAAD(f.URL))
			if err != nil {
				return err
			}
			f.Secret = sealed
		case f.ID != 0 && len(cur.Secret) > 0:
			plain, err := OpenFacilitatorSecret(key, cur)
			if err != nil {
				return err
			}
			if f.Secret, err = SealSecret(key, plain, facilitatorAAD(f.URL)); err != nil {
				return err
			}
		default:
			return fieldErr("secret", "Paste the credential: none is stored for this facilitator.")
		}
		f.Supported, f.CheckedAt, f.CheckError, f.UpdatedAt = supported, &now, "", now
		if f.ID == 0 {
			f.CreatedAt = now
		}
		err := tx.Save(f).Error
		if isUniqueViolation(err) {
			return fieldErr("url", ErrFacilitatorExists.Error()+".")
		}
		return err
	})
}

// DeleteFacilitator removes one; a missing one is ErrNotFound.
func (s *Store) DeleteFacilitator(ctx context.Context, id uint) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&Facilitator{})
	if res.Error != nil {
		return fmt.Errorf("store: unable to delete facilitator %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RecordFacilitatorCheck keeps the outcome of reading a facilitator's /supported: the answer
// (JSON) when it answered, else the error (the last good answer stays).
func (s *Store) RecordFacilitatorCheck(ctx context.Context, id uint, supported, checkErr string) error {
	now := time.Now().UTC()
	up := map[string]any{"checked_at": now, "check_error": clipFac(checkErr, 490)}
	if checkErr == "" {
		up["supported"] = supported
	}
	if err := s.db.WithContext(ctx).Model(&Facilitator{}).Where("id = ?", id).Updates(up).Error; err != nil {
		return fmt.Errorf("store: unable to record the check of facilitator %d: %w", id, err)
	}
	return nil
}
