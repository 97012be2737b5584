package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Store is the data access layer. Method names say what they return.
type Store struct {
	db    *gorm.DB
	cache *readCache
	// catalog is the public catalog in memory (consumers_catalog.go).
	catalog catalogCache
}

// CacheTTL bounds how long another replica's write can stay unseen by this
// process's read cache (see cache.go).
const CacheTTL = time.Second

// NewStore wraps an opened, migrated database.
func NewStore(db *gorm.DB) *Store {
	c := newReadCache(CacheTTL)
	c.install(db)
	return &Store{db: db, cache: c}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// isUniqueViolation recognises duplicate keys on both databases.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "duplicate key value") || strings.Contains(msg, "SQLSTATE 23505")
}

// ErrEmailTaken is returned when a sign-up or user create reuses an address.
var ErrEmailTaken = errors.New("email already registered")

// SignUp creates a tenant and its first user in one transaction. The tenant
// slug is derived from the name; when it is taken, -2, -3, … is tried, so two
// sign-ups racing for one name both succeed with different slugs while a
// race for one email has exactly one winner.
func (s *Store) SignUp(ctx context.Context, email, passwordHash, tenantName, role string) (*User, *Tenant, error) {
	base := Slugify(tenantName)
	if len(base) < 3 {
		base = strings.Trim(base+"-team", "-")
	}
	for attempt := 1; attempt <= 20; attempt++ {
		slug := base
		switch {
		case attempt > 5:
			// Popular names: stop counting and pick a random suffix.
			slug = base + "-" + strings.ToLower(strings.NewReplacer("-", "0", "_", "1").Replace(NewSecret(3)))
		case attempt > 1:
			slug = fmt.Sprintf("%s-%d", base, attempt)
		}
		var u User
		var t Tenant
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var n int64
			if err := tx.Model(&User{}).Where("email = ?", email).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrEmailTaken
			}
			t = Tenant{Slug: slug, Name: tenantName, PlanKey: "free", Status: TenantActive}
			if err := tx.Create(&t).Error; err != nil {
				if isUniqueViolation(err) {
					return ErrConflict
				}
				return err
			}
			u = User{Email: email, PasswordHash: passwordHash, Role: role, TenantID: &t.ID}
			if err := tx.Create(&u).Error; err != nil {
				if isUniqueViolation(err) {
					return ErrEmailTaken
				}
				return err
			}
			return nil
		})
		switch {
		case err == nil:
			u.Tenant = &t
			return &u, &t, nil
		case errors.Is(err, ErrConflict):
			continue // slug taken: try the next suffix
		case errors.Is(err, ErrEmailTaken):
			return nil, nil, ErrEmailTaken
		default:
			return nil, nil, fmt.Errorf("store: unable to sign up: %w", err)
		}
	}
	return nil, nil, fmt.Errorf("store: unable to find a free slug for %q", tenantName)
}

// CreateUser adds a user to an existing tenant (or none, for an admin).
func (s *Store) CreateUser(ctx context.Context, email, passwordHash, role string, tenantID *uint) (*User, error) {
	u := User{Email: email, PasswordHash: passwordHash, Role: role, TenantID: tenantID}
	if err := s.db.WithContext(ctx).Create(&u).Error; err != nil {
		if isUniqueViolation(err) {
			return nil, ErrEmailTaken
		}
		return nil, fmt.Errorf("store: unable to create user: %w", err)
	}
	return &u, nil
}

// UserByEmail returns the user with that (normalized) address.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return first[User](s.db.WithContext(ctx).Preload("Tenant").Where("email = ?", email), "read user")
}

// UserByID returns a user with its tenant.
func (s *Store) UserByID(ctx context.Context, id uint) (*User, error) {
	return first[User](s.db.WithContext(ctx).Preload("Tenant"), fmt.Sprintf("read user %d", id), id)
}

// UserEmails returns the e-mail address of each of the given users by id, for showing who
// authored a version; ids of deleted users are simply absent.
func (s *Store) UserEmails(ctx context.Context, ids []uint) (map[uint]string, error) {
	out := make(map[uint]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var us []User
	if err := s.db.WithContext(ctx).Select("id", "email").Where("id IN ?", ids).Find(&us).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read the authors' e-mail addresses: %w", err)
	}
	for _, u := range us {
		out[u.ID] = u.Email
	}
	return out, nil
}

// SetPassword replaces a user's password hash, ends all other sessions and,
// unless keepTokens, revokes the user's API tokens: a password changed
// because it leaked must not leave a token minted with it working. It
// returns how many tokens it revoked.
func (s *Store) SetPassword(ctx context.Context, userID uint, hash, keepSessionID string, keepTokens bool) (int64, error) {
	var revoked int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", userID).Update("password_hash", hash).Error; err != nil {
			return fmt.Errorf("store: unable to set password: %w", err)
		}
		if err := tx.Where("user_id = ? AND id <> ?", userID, keepSessionID).Delete(&Session{}).Error; err != nil {
			return fmt.Errorf("store: unable to end other sessions: %w", err)
		}
		if keepTokens {
			return nil
		}
		res := tx.Model(&APIToken{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", time.Now().UTC())
		if res.Error != nil {
			return fmt.Errorf("store: unable to revoke api tokens: %w", res.Error)
		}
		revoked = res.RowsAffected
		return nil
	})
	return revoked, err
}

// TenantBySlug returns a tenant.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (*Tenant, error) {
	return first[Tenant](s.db.WithContext(ctx).Where("slug = ?", slug), fmt.Sprintf("read tenant %s", slug))
}

// TenantByID returns a tenant.
func (s *Store) TenantByID(ctx context.Context, id uint) (*Tenant, error) {
	return first[Tenant](s.db.WithContext(ctx), fmt.Sprintf("read tenant %d", id), id)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Plans returns the catalog in display order.
func (s *Store) Plans(ctx context.Context) ([]Plan, error) {
	return cached(s.cache, "plans", []string{"plans"}, func() ([]Plan, error) { return s.plans(ctx) })
}

func (s *Store) plans(ctx context.Context) ([]Plan, error) {
	var ps []Plan
	if err := s.db.WithContext(ctx).Order("sort, key").Find(&ps).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list plans: %w", err)
	}
	return ps, nil
}

// PlanByKey returns one plan.
func (s *Store) PlanByKey(ctx context.Context, key string) (*Plan, error) {
	return cached(s.cache, "plan:"+key, []string{"plans"}, func() (*Plan, error) { return s.planByKey(ctx, key) })
}

func (s *Store) planByKey(ctx context.Context, key string) (*Plan, error) {
	return first[Plan](s.db.WithContext(ctx).Where("key = ?", key), fmt.Sprintf("read plan %s", key))
}

// Audit records an admin or security action. It never fails the caller's
// request: a lost audit line is logged by the caller.
func (s *Store) Audit(ctx context.Context, actor *uint, action, target, detail, ip string) error {
	if len(detail) > 2000 {
		detail = detail[:2000]
	}
	e := AuditEvent{ActorUserID: actor, Action: action, Target: target, Detail: detail, IP: ip}
	if err := s.db.WithContext(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("store: unable to write audit event %s: %w", action, err)
	}
	return nil
}

// TenantUsers returns the users of a tenant, oldest first.
func (s *Store) TenantUsers(ctx context.Context, tenantID uint) ([]User, error) {
	var users []User
	if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("id").Find(&users).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list users of tenant %d: %w", tenantID, err)
	}
	return users, nil
}

// AuditEvents returns the newest audit events.
func (s *Store) AuditEvents(ctx context.Context, limit int) ([]AuditEvent, error) {
	var es []AuditEvent
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list audit events: %w", err)
	}
	return es, nil
}
