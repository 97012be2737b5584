package models

import "time"

// Roles of a User.
const (
	RoleTenant = "tenant"
	RoleAdmin  = "admin"
)

// Tenant statuses.
const (
	TenantActive    = "active"
	TenantSuspended = "suspended"
)

// User is a person who logs in. Tenant users belong to exactly one tenant;
// an admin may have none.
type User struct {
	ID           uint   `gorm:"primaryKey"`
	Email        string `gorm:"uniqueIndex;not null"`
	PasswordHash string `gorm:"not null"`
	Role         string `gorm:"not null;default:tenant"`
	TenantID     *uint  `gorm:"index"`
	Tenant       *Tenant
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// IsAdmin reports whether u may use the admin pages.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin }

// Tenant is an account that owns apps and pays for a plan.
type Tenant struct {
	ID               uint   `gorm:"primaryKey"`
	Slug             string `gorm:"uniqueIndex;not null"`
	Name             string `gorm:"not null"`
	PlanKey          string `gorm:"not null;default:free"`
	Status           string `gorm:"not null;default:active"`
	StatusReason     string `gorm:"not null;default:''"`
	StripeCustomerID string `gorm:"index;not null;default:''"`
	// ReviewPolicy overrides the plan's (moderation.go); "" follows the plan.
	ReviewPolicy string `gorm:"size:16;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a logged-in browser. ID is the sha256 of the cookie value, so a
// copy of the database does not hand out live sessions.
type Session struct {
	ID         string `gorm:"primaryKey;size:64"`
	UserID     uint   `gorm:"index;not null"`
	User       *User
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time `gorm:"index"`
}

// APIToken authenticates /api/v1 calls. Only the sha256 of the secret is kept.
type APIToken struct {
	ID         uint   `gorm:"primaryKey"`
	UserID     uint   `gorm:"index;not null"`
	Name       string `gorm:"not null"`
	Prefix     string `gorm:"not null"`
	Hash       string `gorm:"uniqueIndex;size:64;not null"`
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// ExpiresAt, when set, is when the token stops working.
	ExpiresAt *time.Time
}

// Expired reports whether the token has passed its expiry at now.
func (t APIToken) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Plan is what a tenant buys: edge limits and portal caps.
type Plan struct {
	Key               string `gorm:"primaryKey;size:32"`
	Name              string `gorm:"not null"`
	MonthlyPriceCents int64  `gorm:"not null;default:0"`
	StripePriceID     string `gorm:"not null;default:''"`
	CPUMs             int    `gorm:"not null"`
	SubRequests       int    `gorm:"not null"`
	MaxApps           int    `gorm:"not null"`
	MaxRoutes         int    `gorm:"not null"`
	MaxScriptBytes    int64  `gorm:"not null"`
	// Log bounds (app_logs): lines kept per request (the rest are counted as dropped), hours
	// a line is kept, and bytes of messages kept per app (the oldest lines go first).
	LogLinesPerRequest int   `gorm:"not null;default:200"`
	LogRetentionHours  int   `gorm:"not null;default:72"`
	LogMaxBytes        int64 `gorm:"not null;default:10485760"`
	// Caps on the per-caller limits a tenant may set on a route (issue 15; LimitCaps): the
	// largest rates and quotas (0: the platform's bound, DefaultLimitCaps), and whether quotas
	// and spend caps are withheld from the plan.
	MaxRatePerSecond int  `gorm:"not null;default:0"`
	MaxRatePerMinute int  `gorm:"not null;default:0"`
	MaxDailyQuota    int  `gorm:"not null;default:0"`
	MaxMonthlyQuota  int  `gorm:"not null;default:0"`
	QuotasOff        bool `gorm:"not null;default:false"`
	SpendCapsOff     bool `gorm:"not null;default:false"`
	Active           bool `gorm:"not null;default:true"`
	Sort             int  `gorm:"not null;default:0"`
	// ReviewPolicy: "" or off (no approval needed), first (a tenant's versions wait for an
	// admin until one of them is approved), always (every version waits). moderation.go.
	ReviewPolicy string `gorm:"size:16;not null;default:''"`
	UpdatedAt    time.Time
}

// AuditEvent records an admin or security action.
type AuditEvent struct {
	ID          uint      `gorm:"primaryKey"`
	ActorUserID *uint     `gorm:"index"`
	Action      string    `gorm:"not null;index"`
	Target      string    `gorm:"not null;default:''"`
	Detail      string    `gorm:"not null;default:''"`
	IP          string    `gorm:"not null;default:''"`
	CreatedAt   time.Time `gorm:"index"`
}
