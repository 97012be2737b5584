package web

import (
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers/bundle"
	"github.com/gofiber/fiber/v2"
)

// appJSON is the API's view of an app.
type appJSON struct {
	Slug              string    `json:"slug"`
	Name              string    `json:"name"`
	URL               string    `json:"url"`
	Status            string    `json:"status"`
	StatusReason      string    `json:"status_reason,omitempty"` // why it is paused
	KV                bool      `json:"kv"`
	DesiredVersionID  *uint     `json:"desired_version_id"`
	DeployedVersionID *uint     `json:"deployed_version_id"`
	SyncState         string    `json:"sync_state"`
	SyncError         string    `json:"sync_error,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
}

func (s *Server) appToJSON(a *models.App) appJSON {
	return appJSON{Slug: a.Slug, Name: a.Name, URL: s.edgeURL(a), Status: a.Status, StatusReason: a.StatusReason, KV: a.KVEnabled, DesiredVersionID: a.DesiredVersionID,
		DeployedVersionID: a.DeployedVersionID, SyncState: a.SyncState, SyncError: a.SyncError, CreatedAt: a.CreatedAt}
}

type versionJSON struct {
	ID         uint      `json:"id"`
	Number     int       `json:"number"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	MainModule string    `json:"main_module"`
	Message    string    `json:"message"`
	CreatedAt  time.Time `json:"created_at"`
	// Code moderation: "" (nothing to review), pending, approved or rejected.
	ReviewState  string `json:"review_state"`
	ReviewReason string `json:"review_reason,omitempty"`
}

func versionToJSON(v *models.Version) versionJSON {
	return versionJSON{ID: v.ID, Number: v.Number, SHA256: v.SHA256, Size: v.Size, MainModule: v.MainModule, Message: v.Message, CreatedAt: v.CreatedAt,
		ReviewState: v.ReviewState, ReviewReason: v.ReviewReason}
}

type deploymentJSON struct {
	ID        uint   `json:"id"`
	VersionID uint   `json:"version_id"`
	Status    string `json:"status"`
	Error     string `json:"error"`
}

// apiApp loads the caller's app or answers 404 (also for other tenants' apps).
func (s *Server) apiApp(c *fiber.Ctx) (*models.App, error) {
	u := apiUser(c)
	if u.Tenant == nil {
		return nil, newAPIError(fiber.StatusForbidden, "no_tenant", "Apps belong to tenants; this user has none.")
	}
	a, err := s.store.AppBySlug(c.UserContext(), u.Tenant.ID, c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return nil, newAPIError(fiber.StatusNotFound, "not_found", "No app with that slug in your account.")
	}
	return a, err
}

func (s *Server) apiApps(c *fiber.Ctx) error {
	u := apiUser(c)
	if u.Tenant == nil {
		return c.JSON([]appJSON{})
	}
	apps, err := s.store.Apps(c.UserContext(), u.Tenant.ID)
	if err != nil {
		return err
	}
	out := make([]appJSON, 0, len(apps))
	for i := range apps {
		out = append(out, s.appToJSON(&apps[i]))
	}
	return c.JSON(out)
}

func (s *Server) apiAppCreate(c *fiber.Ctx) error {
	u := apiUser(c)
	if u.Tenant == nil {
		return newAPIError(fiber.StatusForbidden, "no_tenant", "Apps belong to tenants; this user has none.")
	}
	var in struct {
		Slug    string `json:"slug"`
		Name    string `json:"name"`
		Starter string `json:"starter"`
		PayTo   string `json:"pay_to"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	st, routes, field, msg := chooseStarter(in.Starter, in.PayTo)
	if field != "" {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: msg, Field: field}
	}
	a, err := s.store.CreateApp(c.UserContext(), u.Tenant, in.Slug, in.Name)
	if err != nil {
		field, msg, status := createAppErr(err)
		if status == 0 {
			return err
		}
		code := map[int]string{403: "plan_limit", 409: "slug_taken", 422: "invalid"}[status]
		return &apiError{Status: status, Code: code, Message: msg, Field: field}
	}
	if st != nil {
		if err := s.startApp(c, a, st, routes); err != nil {
			return err
		}
		if a, err = s.store.AppByID(c.UserContext(), a.ID); err != nil {
			return err
		}
	}
	s.syncNow(a)
	return c.Status(fiber.StatusCreated).JSON(s.appToJSON(a))
}

func (s *Server) apiAppGet(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	return c.JSON(s.appToJSON(a))
}

func (s *Server) apiAppPatch(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var in struct {
		Name *string `json:"name"`
		KV   *bool   `json:"kv"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Name != nil {
		if _, err := models.ValidateAppName(*in.Name); err != nil {
			fe, _ := models.AsFieldError(err)
			return &apiError{Status: 422, Code: "invalid", Message: fe.Message, Field: "name"}
		}
	}
	if in.Name != nil {
		if err := s.store.RenameApp(c.UserContext(), a, *in.Name); err != nil {
			return err
		}
	}
	if in.KV != nil && *in.KV != a.KVEnabled {
		if err := s.store.SetAppKV(c.UserContext(), a, *in.KV); err != nil {
			if errors.Is(err, models.ErrAppBusy) {
				return newAPIError(fiber.StatusConflict, "app_busy", "The app is being deleted.")
			}
			return err
		}
		s.syncNow(a)
	}
	a, err = s.apiApp(c)
	if err != nil {
		return err
	}
	return c.JSON(s.appToJSON(a))
}

func (s *Server) apiAppDelete(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteApp(c.UserContext(), a); err != nil && !errors.Is(err, models.ErrAppBusy) {
		return err
	}
	s.syncNow(a)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"slug": a.Slug, "status": "deleting"})
}

// apiVersionCreate takes JSON {"main_module","modules":{name:source},"message"}
// or multipart files (field "files", plus "main_module" and "message").
func (s *Server) apiVersionCreate(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var up upload
	mt, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if mt == fiber.MIMEMultipartForm {
		up, err = readUpload(c)
		if err != nil {
			return buildAPIError(err)
		}
		if len(up.Files) == 1 && c.FormValue("code") == "" && up.Files[0].Name == "index.js" && len(up.Files[0].Content) == 0 {
			up.Files = nil
		}
	} else {
		var in struct {
			MainModule string            `json:"main_module"`
			Modules    map[string]string `json:"modules"`
			Message    string            `json:"message"`
		}
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
		up.Main, up.Message = in.MainModule, in.Message
		for name, src := range in.Modules {
			up.Files = append(up.Files, bundle.File{Name: name, Content: []byte(src)})
		}
	}
	// For the API the user is the token's; saveVersion reads currentUser.
	v, err := s.saveVersion(c, a, up)
	if err != nil {
		return buildAPIError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(versionToJSON(v))
}

// buildAPIError maps build and plan problems to 413/422 with file:line:col.
func buildAPIError(err error) error {
	var be *bundle.Error
	var pl *models.PlanLimitError
	var blocked *models.BlockedError
	switch {
	case errors.As(err, &be):
		status, code := fiber.StatusUnprocessableEntity, "build_failed"
		if be.Has("too_large") {
			status, code = fiber.StatusRequestEntityTooLarge, "too_large"
		}
		type problem struct {
			File    string `json:"file,omitempty"`
			Line    int    `json:"line,omitempty"`
			Column  int    `json:"column,omitempty"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		}
		ps := make([]problem, 0, len(be.Problems))
		for _, p := range be.Problems {
			ps = append(ps, problem{p.File, p.Line, p.Column, p.Kind, p.Message})
		}
		return &problemsError{status: status, code: code, message: be.Error(), problems: ps}
	case errors.As(err, &pl):
		return newAPIError(fiber.StatusRequestEntityTooLarge, "plan_limit", pl.Error())
	case errors.As(err, &blocked):
		return newAPIError(fiber.StatusUnprocessableEntity, "blocked", blocked.Message+" (moderation rule "+blocked.Rule+")")
	case errors.Is(err, models.ErrAppBusy):
		return newAPIError(fiber.StatusConflict, "app_busy", "The app is being deleted.")
	}
	return err
}

// problemsError is a 413/422 whose body lists every build problem.
type problemsError struct {
	status   int
	code     string
	message  string
	problems any
}

func (e *problemsError) Error() string { return e.message }

func (s *Server) apiVersions(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	vs, err := s.store.Versions(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	out := make([]versionJSON, 0, len(vs))
	for i := range vs {
		out = append(out, versionToJSON(&vs[i]))
	}
	return c.JSON(out)
}

func (s *Server) apiDeploy(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var in struct {
		VersionID *uint `json:"version_id"`
	}
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
	}
	var id uint
	if in.VersionID != nil {
		if *in.VersionID == 0 {
			return &apiError{Status: 422, Code: "invalid", Message: "version_id must be a version's id, or omitted for the newest.", Field: "version_id"}
		}
		id = *in.VersionID
	}
	d, err := s.store.Deploy(c.UserContext(), a, id)
	var re *models.ReviewError
	var td *models.TakenDownError
	switch {
	case errors.As(err, &re):
		code := "review_pending"
		if re.State == models.ReviewRejected {
			code = "version_rejected"
		}
		return &apiError{Status: fiber.StatusConflict, Code: code, Message: re.Error(), Field: "version_id"}
	case errors.As(err, &td):
		return newAPIError(fiber.StatusConflict, "app_taken_down", sentence(td.Error()))
	case errors.Is(err, models.ErrNotFound):
		if id == 0 {
			return newAPIError(fiber.StatusUnprocessableEntity, "no_version", "The app has no version yet; POST /versions first.")
		}
		return &apiError{Status: fiber.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("Version %d does not exist in this app.", id), Field: "version_id"}
	case errors.Is(err, models.ErrAppBusy):
		return newAPIError(fiber.StatusConflict, "app_busy", "The app is being deleted.")
	case err != nil:
		return err
	}
	s.syncNow(a)
	return c.Status(fiber.StatusAccepted).JSON(deploymentJSON{ID: d.ID, VersionID: d.VersionID, Status: d.Status, Error: d.Error})
}

func (s *Server) apiDeployment(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil {
		return newAPIError(fiber.StatusNotFound, "not_found", "No such deployment.")
	}
	d, err := s.store.DeploymentByID(c.UserContext(), a.ID, uint(id))
	if errors.Is(err, models.ErrNotFound) {
		return newAPIError(fiber.StatusNotFound, "not_found", "No such deployment.")
	} else if err != nil {
		return err
	}
	return c.JSON(deploymentJSON{ID: d.ID, VersionID: d.VersionID, Status: d.Status, Error: d.Error})
}

func (s *Server) apiVarPut(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var in struct {
		Value  *string `json:"value"`
		Secret bool    `json:"secret"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Value == nil {
		return &apiError{Status: 422, Code: "invalid", Message: "value is required.", Field: "value"}
	}
	if len(*in.Value) > maxVarValue {
		return &apiError{Status: 422, Code: "invalid", Message: "The value is too long (5 KiB at most).", Field: "value"}
	}
	name := c.Params("name")
	err = s.store.SetVar(c.UserContext(), a, name, *in.Value, in.Secret, s.opts.SecretKey)
	if fe, ok := models.AsFieldError(err); ok {
		return &apiError{Status: 422, Code: "invalid", Message: fe.Message, Field: fe.Field}
	} else if errors.Is(err, models.ErrAppBusy) {
		return newAPIError(fiber.StatusConflict, "app_busy", "The app is being deleted.")
	} else if err != nil {
		return err
	}
	s.syncNow(a)
	return c.JSON(fiber.Map{"name": name, "secret": in.Secret})
}

func (s *Server) apiVarDelete(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	err = s.store.DeleteVar(c.UserContext(), a, c.Params("name"))
	if errors.Is(err, models.ErrNotFound) {
		return newAPIError(fiber.StatusNotFound, "not_found", "No variable with that name.")
	} else if err != nil {
		return err
	}
	s.syncNow(a)
	return c.SendStatus(fiber.StatusNoContent)
}
