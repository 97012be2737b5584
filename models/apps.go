package models

import (
	"errors"
	"fmt"
	"github.com/402claw/402claw/models/scan"
	"regexp"
	"strings"
	"time"
)

// App statuses (what the owner or a downgrade decided, independent of sync).
const (
	AppActive = "active"
	AppPaused = "paused"
)

// Sync states of an App: whether the edge holds what the database says.
const (
	SyncInSync   = "in_sync"
	SyncPending  = "pending"
	SyncFailed   = "failed"
	SyncDeleting = "deleting"
)

// Deployment statuses.
const (
	DeployPending   = "pending"
	DeploySucceeded = "succeeded"
	DeployFailed    = "failed"
)

// Route access modes and settle orders.
const (
	AccessPublic = "public"
	AccessX402   = "x402"
	AccessAPIKey = "api_key"
	SettleAfter  = "after"
	SettleBefore = "before"
	// SettleOptimistic: verify, run, answer, settle after the answer left (cheap routes; the
	// dispatcher refuses a payer whose settlement failed on the app's optimistic routes).
	SettleOptimistic = "optimistic"
)

// SyncJob kinds.
const (
	JobApp       = "app"
	JobAppDelete = "app_delete"
)

// App is one user worker in the dispatch namespace.
type App struct {
	ID                uint   `gorm:"primaryKey"`
	TenantID          uint   `gorm:"index;not null"`
	Slug              string `gorm:"uniqueIndex;size:32;not null"`
	Name              string `gorm:"size:100;not null"`
	ScriptName        string `gorm:"size:64;not null"`
	Status            string `gorm:"size:16;not null;default:active"`
	StatusReason      string `gorm:"size:500;not null;default:''"`
	KVEnabled         bool   `gorm:"not null;default:false"`
	KVNamespaceID     string `gorm:"size:64;not null;default:''"`
	DesiredVersionID  *uint
	DeployedVersionID *uint
	// Generation is bumped by every change the edge must see; the config document carries it as
	// config_version, and a job marks the generation it read as done.
	Generation       int64  `gorm:"not null;default:0"`
	SyncedGeneration int64  `gorm:"not null;default:0"`
	SyncState        string `gorm:"size:16;not null;default:pending"`
	SyncError        string `gorm:"size:2000;not null;default:''"`
	// ScriptFingerprint is the keyed hash of the last script upload that succeeded: a job skips
	// the upload when nothing the script depends on changed, and the reconciler compares it with
	// the fp: tag Cloudflare holds.
	ScriptFingerprint string `gorm:"size:64;not null;default:''"`
	// CPUStoppedAt is when the local edge's watchdog last stopped the app (a request of it ran
	// JavaScript without end, apps_runaway.go); CPUResumeAt, when that stop ends by itself
	// (nil: a repeat, which waits for a deploy).
	CPUStoppedAt *time.Time
	CPUResumeAt  *time.Time
	// ModerationState is an admin's takedown (moderation_takedown.go): "" (none), suspended
	// (the edge answers 403 with ModerationReason) or taken_down (nothing at the edge: 404).
	ModerationState  string `gorm:"size:16;not null;default:''"`
	ModerationReason string `gorm:"size:500;not null;default:''"`
	AppListing
	CreatedAt time.Time
	UpdatedAt time.Time
}

// InSync reports whether the edge holds the app's latest generation.
func (a *App) InSync() bool { return a.SyncedGeneration >= a.Generation && a.SyncState == SyncInSync }

// JobTarget is the SyncJob target of an app.
func (a *App) JobTarget() string { return AppJobTarget(a.ID) }

// SyncJobTargetPrefix starts the SyncJob target of every app. It is not the edge's "app:" (the
// config key and script tag name an app by slug there): a target names a job, by app id.
const SyncJobTargetPrefix = "sync:app:"

// AppJobTarget is the SyncJob target of the app with that id.
func AppJobTarget(id uint) string { return fmt.Sprintf("%s%d", SyncJobTargetPrefix, id) }

// Version is an immutable code snapshot of an app.
type Version struct {
	ID           uint              `gorm:"primaryKey"`
	AppID        uint              `gorm:"uniqueIndex:idx_versions_app_number;not null"`
	Number       int               `gorm:"uniqueIndex:idx_versions_app_number;not null"`
	MainModule   string            `gorm:"size:200;not null"`
	Sources      map[string]string `gorm:"serializer:json;not null"`
	Bundle       []byte            `gorm:"not null"`
	BundleName   string            `gorm:"size:200;not null"`
	SourceMap    []byte            // maps Bundle back to Sources; nil before migration 62
	SHA256       string            `gorm:"column:sha256;size:64;not null"`
	Size         int64             `gorm:"not null"`
	AuthorUserID uint              `gorm:"not null"`
	Message      string            `gorm:"size:500;not null;default:''"`
	// Moderation (moderation.go): ReviewState is "" (nothing to review), pending, approved or
	// rejected; ScanMatches are the flag rules that matched when it was saved or re-scanned.
	ReviewState  string       `gorm:"size:16;not null;default:''"`
	ReviewReason string       `gorm:"size:1000;not null;default:''"`
	ReviewedBy   *uint        //
	ReviewedAt   *time.Time   //
	ScanMatches  []scan.Match `gorm:"serializer:json;type:text;not null;default:''"`
	CreatedAt    time.Time
}

// NewVersion is what a build produced; models does not import the bundler.
type NewVersion struct {
	MainModule string            // the tenant's entry file
	Sources    map[string]string // the uploaded files by name
	Bundle     []byte            // the built module
	BundleName string            // default worker.js
	SourceMap  []byte            // the bundle's source map, if the build made one
	SHA256     string            // hex digest of Bundle
	Message    string
}

// Deployment is one request to run a version at the edge.
type Deployment struct {
	ID         uint   `gorm:"primaryKey"`
	AppID      uint   `gorm:"index;not null"`
	VersionID  uint   `gorm:"not null"`
	Generation int64  `gorm:"not null"`
	Status     string `gorm:"size:16;not null;default:pending"`
	Error      string `gorm:"size:2000;not null;default:''"`
	CreatedAt  time.Time
	FinishedAt *time.Time
}

// Var is an environment variable or secret of an app, encrypted at rest.
type Var struct {
	ID         uint   `gorm:"primaryKey"`
	AppID      uint   `gorm:"uniqueIndex:idx_vars_app_name;not null"`
	Name       string `gorm:"uniqueIndex:idx_vars_app_name;size:64;not null"`
	Ciphertext []byte `gorm:"not null"`
	Secret     bool   `gorm:"not null;default:false"`
	UpdatedAt  time.Time
}

// DecryptedVar is a Var ready for upload as a plain_text or secret_text binding.
type DecryptedVar struct {
	Name   string
	Value  string
	Secret bool
}

// Route is one priced or public path of an app; order matters (first match wins).
type Route struct {
	ID       uint   `gorm:"primaryKey"`
	AppID    uint   `gorm:"index;not null"`
	Position int    `gorm:"not null"`
	Method   string `gorm:"size:8;not null"`
	Path     string `gorm:"size:500;not null"`
	Access   string `gorm:"size:16;not null"`
	Price    string `gorm:"size:64;not null;default:''"`
	Amount   string `gorm:"size:80;not null;default:''"`
	Network  string `gorm:"size:64;not null;default:''"`
	PayTo    string `gorm:"size:64;not null;default:''"`
	// PayToDefault: the route names no wallet of its own; PayTo is the tenant's default payout
	// wallet of Network, rewritten when that wallet changes (wallets.go).
	PayToDefault bool   `gorm:"not null;default:false"`
	Settle       string `gorm:"size:16;not null;default:after"`
	// RefuseSeconds is how long a payer whose optimistic settlement failed is refused on the
	// app's optimistic routes; nil follows the edge's CLAW_OPTIMISTIC_REFUSE, 0 refuses nobody.
	RefuseSeconds *int
	Description   string `gorm:"size:500;not null;default:''"`
	MimeType      string `gorm:"size:100;not null;default:''"`
	RouteDiscovery
	RouteLimits
}

// EgressRule allows the app's worker to reach hosts matching Pattern.
type EgressRule struct {
	ID       uint   `gorm:"primaryKey"`
	AppID    uint   `gorm:"index;not null"`
	Position int    `gorm:"not null"`
	Pattern  string `gorm:"size:255;not null"`
}

// APIKey is an API key a tenant hands to its consumers for api_key routes.
type APIKey struct {
	ID        uint   `gorm:"primaryKey"`
	AppID     uint   `gorm:"index;not null"`
	Name      string `gorm:"size:100;not null"`
	Prefix    string `gorm:"size:16;not null"`
	Hash      string `gorm:"uniqueIndex;size:64;not null"`
	CreatedAt time.Time
	RevokedAt *time.Time
}

// TableName keeps the table's first name (consumer_keys): the type was renamed, the data was not.
func (APIKey) TableName() string { return "consumer_keys" }

// SyncJob is the outbox row of one edge target. Enqueueing raises DesiredGen in the same
// transaction as the change; a run marks the generation it pushed as DoneGen. It is pending
// while DesiredGen > DoneGen.
type SyncJob struct {
	ID          uint      `gorm:"primaryKey"`
	Kind        string    `gorm:"size:32;not null"`
	Target      string    `gorm:"uniqueIndex;size:100;not null"`
	AppID       *uint     `gorm:"index"`
	DesiredGen  int64     `gorm:"not null;default:0"`
	DoneGen     int64     `gorm:"not null;default:0"`
	Attempts    int       `gorm:"not null;default:0"`
	NextAt      time.Time `gorm:"index;not null"`
	LockedBy    string    `gorm:"size:100;not null;default:''"`
	LockedUntil *time.Time
	LastError   string `gorm:"size:2000;not null;default:''"`
	// Permanent marks a failure that retrying cannot fix (a 4xx); the next change clears it.
	Permanent bool `gorm:"not null;default:false"`
	UpdatedAt time.Time
}

// Pending reports whether the job has work left.
func (j *SyncJob) Pending() bool { return j.DesiredGen > j.DoneGen }

// Store errors of apps.
var (
	ErrSlugTaken    = errors.New("app slug already taken")
	ErrReservedSlug = errors.New("app slug is reserved")
	ErrPlanLimit    = errors.New("plan limit reached")
	// ErrAppBusy refuses a change to an app that is being deleted.
	ErrAppBusy = errors.New("app is being deleted")
)

// PlanLimitError says which cap was hit and which plan allows more. It matches ErrPlanLimit.
type PlanLimitError struct {
	What       string // "apps", "script bytes", …
	Limit      int64
	Plan       string // name of the tenant's plan
	BetterPlan string // name of the cheapest plan allowing more; empty if none
}

func (e *PlanLimitError) Error() string {
	msg := fmt.Sprintf("The %s plan allows %d %s.", e.Plan, e.Limit, e.What)
	if e.BetterPlan != "" {
		msg += fmt.Sprintf(" The %s plan allows more.", e.BetterPlan)
	}
	return msg
}

// Is makes errors.Is(err, ErrPlanLimit) true.
func (e *PlanLimitError) Is(target error) bool { return target == ErrPlanLimit }

var appSlugRe = regexp.MustCompile(`^[a-z][a-z0-9-]{2,31}$`)

// reservedSlugs would collide with the portal's own hosts and paths under the base domain.
var reservedSlugs = map[string]bool{}

func init() {
	for _, s := range strings.Fields(`www api admin static app apps dashboard portal edge mail cdn
		assets status docs help billing login logout signup register account accounts settings
		support blog about pricing terms privacy security auth oauth sso console metrics healthz
		readyz dev test staging prod production internal root system webhook webhooks stripe
		x402 claw 402claw dispatcher outbound public files img images media ftp smtp imap pop
		ns1 ns2 dns localhost`) {
		reservedSlugs[s] = true
	}
}

// ValidateAppSlug checks a new app's slug: it becomes a host name label and a script name, so
// it is lower-case letters, digits and single hyphens, starting with a letter. "--" is refused
// because labels with hyphens in positions 3-4 ("xn--") are IDNA punycode.
func ValidateAppSlug(s string) error {
	switch {
	case s == "":
		return fieldErr("slug", "Choose a slug for the app's address.")
	case !appSlugRe.MatchString(s):
		return fieldErr("slug", "Use 3 to 32 characters: lower-case letters, digits and hyphens, starting with a letter.")
	case strings.HasSuffix(s, "-"):
		return fieldErr("slug", "The slug cannot end with a hyphen.")
	case strings.Contains(s, "--"):
		return fieldErr("slug", "The slug cannot contain two hyphens in a row.")
	case reservedSlugs[s]:
		return &FieldError{Field: "slug", Message: fmt.Sprintf("%q is reserved; choose another slug.", s)}
	}
	return nil
}

// IsReservedSlug reports whether s is one of the reserved words.
func IsReservedSlug(s string) bool { return reservedSlugs[s] }

var varNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ValidateVarName checks a var's name: it becomes a binding name on env. KV is the app's KV
// store binding.
func ValidateVarName(s string) error {
	switch {
	case !varNameRe.MatchString(s):
		return fieldErr("name", "Use 1 to 64 letters, digits and underscores, not starting with a digit.")
	case s == "KV":
		return fieldErr("name", "KV is the name of the app's KV store binding; choose another name.")
	}
	return nil
}

// ValidateAppName checks a display name.
func ValidateAppName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fieldErr("name", "Name the app.")
	case len([]rune(s)) > 100:
		return "", fieldErr("name", "Use at most 100 characters.")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fieldErr("name", "The name contains control characters.")
		}
	}
	return s, nil
}
