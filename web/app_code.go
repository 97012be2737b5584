package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"sort"
	"strconv"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/workers/bundle"
	"github.com/gofiber/fiber/v2"
)

const defaultCode = `export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    return Response.json({ hello: "world", path: url.pathname });
  },
};
`

// appCode is the Code tab: the latest version in the editor, the deployment panel.
func (s *Server) appCode(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	t, err := s.codeTab(c, a)
	if err != nil {
		return err
	}
	return render(c, views.AppCodePage(s.navPage(c, a.Name, "apps"), t))
}

func (s *Server) codeTab(c *fiber.Ctx, a *models.App) (views.CodeTab, error) {
	ctx := c.UserContext()
	plan, err := s.store.PlanByKey(ctx, currentUser(c).Tenant.PlanKey)
	if err != nil {
		return views.CodeTab{}, err
	}
	t := views.CodeTab{Header: s.appHeader(a), StyleNonce: styleNonce(c), MaxBytes: min(plan.MaxScriptBytes, bundle.HardMaxBundleBytes), MaxFiles: bundle.HardMaxFiles,
		Files:   []views.EditorFile{{Name: "index.js", Code: defaultCode, Main: true}},
		Console: views.ConsoleForm{Slug: a.Slug, EdgeURL: s.edgeURL(a)}}
	if t.Header.CPU != nil {
		t.Header.CPU.LimitMs = plan.CPUMs
	}
	vs, err := s.store.Versions(ctx, a.ID)
	if err != nil {
		return t, err
	}
	if len(vs) > 0 {
		latest, err := s.store.VersionSources(ctx, a.ID, vs[0].ID)
		if err != nil {
			return t, err
		}
		t.Latest, t.Files = latest, editorFiles(latest.Sources, latest.MainModule)
	}
	ds, err := s.store.Deployments(ctx, a.ID, 1)
	if err != nil {
		return t, err
	}
	if len(ds) > 0 {
		dv, err := s.deploymentView(c, a, &ds[0])
		if err != nil {
			return t, err
		}
		t.Deployment = &dv
	}
	return t, nil
}

// editorFiles lists a version's files for the editor: the main module first, then by name.
func editorFiles(sources map[string]string, main string) []views.EditorFile {
	names := make([]string, 0, len(sources))
	for n := range sources {
		if n != main {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]views.EditorFile, 0, len(sources))
	if code, ok := sources[main]; ok {
		out = append(out, views.EditorFile{Name: main, Code: code, Main: true})
	}
	for _, n := range names {
		out = append(out, views.EditorFile{Name: n, Code: sources[n]})
	}
	if len(out) > 0 && !out[0].Main {
		out[0].Main = true // a version without its entry (never written since 2026-12): pick one
	}
	return out
}

func (s *Server) deploymentView(c *fiber.Ctx, a *models.App, d *models.Deployment) (views.DeploymentView, error) {
	dv := views.DeploymentView{Slug: a.Slug, D: *d}
	n, err := s.store.VersionNumber(c.UserContext(), a.ID, d.VersionID)
	if err != nil {
		return dv, err
	}
	dv.Version = n
	return dv, nil
}

// upload is what a save sends: files, the main module and a message.
type upload struct {
	Files   []bundle.File
	Main    string
	Message string
	// Editor holds the editor's files as sent (nameless ones included) so a
	// refused save shows them again as they were; nil for uploads.
	Editor []views.EditorFile
	// Unnamed are the problems of editor files sent without a name, by
	// their index in Editor.
	Unnamed map[int]string
	// Slots gives, for each of Files, its index in Editor (editor saves only).
	Slots []int
}

// slotOf is the editor slot (or, for uploads, the file's position) a problem
// is about, or -1: by the file's position in the upload when the problem has
// one (two files may share a name), else by name.
func (up upload) slotOf(pr bundle.Problem) int {
	if pr.Upload > 0 && pr.Upload <= len(up.Files) {
		if up.Slots != nil {
			return up.Slots[pr.Upload-1]
		}
		return pr.Upload - 1
	}
	if pr.File == "" {
		return -1
	}
	if up.Editor != nil {
		for i, f := range up.Editor {
			if f.Name == pr.File {
				return i
			}
		}
		return -1
	}
	for i, f := range up.Files {
		if f.Name == pr.File {
			return i
		}
	}
	return -1
}

// explainNoMain names the main module the tenant deleted: when the files sent
// have no main module and the newest version's is not among them, the
// problem says which file it was instead of only "choose one".
func explainNoMain(be *bundle.Error, up upload, latestMain string) {
	if latestMain == "" || up.Main != "" {
		return
	}
	for _, f := range up.Files {
		if f.Name == latestMain {
			return
		}
	}
	for i, pr := range be.Problems {
		if pr.Kind == bundle.KindNoMain && pr.File == "" {
			be.Problems[i].Message = fmt.Sprintf("%s was the main module and is no longer among the files; choose which file is the main module now (or add %s back)", latestMain, latestMain)
		}
	}
}

// editorFilesOfUpload shows uploaded files in the editor (a refused upload
// then shows its problems on its files).
func editorFilesOfUpload(up upload) []views.EditorFile {
	out := make([]views.EditorFile, len(up.Files))
	for i, f := range up.Files {
		out[i] = views.EditorFile{Name: f.Name, Code: string(f.Content), Main: f.Name == up.Main || len(up.Files) == 1}
	}
	return out
}

// readUpload reads the multipart files, the editor's files (file_name,
// file_code and main_index, repeated in order) or a single module (code).
func readUpload(c *fiber.Ctx) (upload, error) {
	up := upload{Main: strings.TrimSpace(c.FormValue("main_module")), Message: strings.TrimSpace(c.FormValue("message"))}
	if form, err := c.MultipartForm(); err == nil && form != nil && len(form.File["files"]) > 0 {
		fhs := form.File["files"]
		if len(fhs) > bundle.HardMaxFiles {
			return up, &bundle.Error{Problems: []bundle.Problem{{Kind: "too_many_files", Message: fmt.Sprintf("%d files uploaded; at most %d are allowed.", len(fhs), bundle.HardMaxFiles)}}}
		}
		var big []bundle.Problem
		for i, fh := range fhs {
			if fh.Size > bundle.HardMaxBundleBytes {
				big = append(big, bundle.Problem{File: rawFilename(fh), Upload: i + 1, Kind: bundle.KindTooLarge,
					Message: fmt.Sprintf("this file is %d bytes; a file may be at most 10 MiB", fh.Size)})
				up.Files = append(up.Files, bundle.File{Name: rawFilename(fh)})
				continue
			}
			b, err := readPart(fh)
			if err != nil {
				return up, err
			}
			up.Files = append(up.Files, bundle.File{Name: rawFilename(fh), Content: b})
		}
		if len(big) > 0 {
			return up, &bundle.Error{Problems: big}
		}
		return up, nil
	}
	args := c.Request().PostArgs()
	if names := args.PeekMulti("file_name"); len(names) > 0 {
		return readEditor(up, names, args.PeekMulti("file_code"), string(args.Peek("main_index")))
	}
	if up.Main == "" {
		up.Main = "index.js"
	}
	// A browser sends a textarea's line breaks as CRLF whatever the text
	// holds (HTML form encoding); the text the tenant sees has LF.
	code := strings.ReplaceAll(c.FormValue("code"), "\r\n", "\n")
	up.Files = []bundle.File{{Name: up.Main, Content: []byte(code)}}
	return up, nil
}

// readEditor reads the editor's file slots. A slot with neither name nor code is an unused
// "new file" slot; a slot with code but no name is refused on that slot.
func readEditor(up upload, names, codes [][]byte, mainIndex string) (upload, error) {
	if len(codes) != len(names) {
		return up, fiber.NewError(fiber.StatusBadRequest, "The editor sent file names and contents that do not pair up; reload the page and try again.")
	}
	main, err := strconv.Atoi(mainIndex)
	if err != nil {
		main = -1
	}
	up.Main = ""
	up.Unnamed = map[int]string{}
	for i := range names {
		name := strings.TrimSpace(string(names[i]))
		code := strings.ReplaceAll(string(codes[i]), "\r\n", "\n")
		if name == "" && strings.TrimSpace(code) == "" {
			continue
		}
		f := views.EditorFile{Name: name, Code: code, Main: i == main}
		up.Editor = append(up.Editor, f)
		if name == "" {
			up.Unnamed[len(up.Editor)-1] = "This file has no name: name it (like lib.js) or empty it to remove it."
			continue
		}
		up.Files = append(up.Files, bundle.File{Name: name, Content: []byte(code)})
		up.Slots = append(up.Slots, len(up.Editor)-1)
		if f.Main {
			up.Main = name
		}
	}
	if len(up.Unnamed) > 0 {
		return up, &bundle.Error{Problems: []bundle.Problem{{Kind: "bad_name", Message: "A file has no name."}}}
	}
	// No main module (its slot was emptied or removed): with one file left
	// bundle.Build takes it, with several it asks which one.
	return up, nil
}

// rawFilename is the file name exactly as the client sent it. Go's multipart
// reader keeps only the last path element ("../x.js" becomes "x.js"); the
// upload rules must see the original to refuse it instead of guessing.
func rawFilename(fh *multipart.FileHeader) string {
	if _, params, err := mime.ParseMediaType(fh.Header.Get("Content-Disposition")); err == nil {
		if n, ok := params["filename"]; ok {
			return n
		}
	}
	return fh.Filename
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, bundle.HardMaxBundleBytes+1))
}

// saveVersion builds the upload and stores it as a new version. A build
// problem comes back as *bundle.Error, a plan cap as *models.PlanLimitError;
// in both cases nothing is stored.
func (s *Server) saveVersion(c *fiber.Ctx, a *models.App, up upload) (*models.Version, error) {
	plan, err := s.store.PlanByKey(c.UserContext(), currentUser(c).Tenant.PlanKey)
	if err != nil {
		return nil, err
	}
	if len(up.Message) > 200 {
		up.Message = up.Message[:200]
	}
	res, err := bundle.Build(up.Files, up.Main, planLimits(plan))
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) && be.Has("too_large") {
			if better := s.betterPlanFor(c, func(p models.Plan) bool { return p.MaxScriptBytes > plan.MaxScriptBytes }); better != "" {
				be.Problems = append(be.Problems, bundle.Problem{Kind: "too_large", Message: "The " + better + " plan allows larger scripts."})
			}
		}
		return nil, err
	}
	sources := make(map[string]string, len(res.Sources))
	for k, v := range res.Sources {
		sources[k] = v
	}
	var mod []byte
	if len(res.Modules) > 0 {
		mod = res.Modules[0].Content
	}
	return s.store.CreateVersion(c.UserContext(), a, currentUser(c).ID, models.NewVersion{
		MainModule: res.Entry, Sources: sources, Bundle: mod, BundleName: bundle.OutputModule, SourceMap: res.SourceMap, SHA256: res.SHA256,
		Message: up.Message,
	})
}

// planLimits are a build's limits under a plan: one file, like the bundle, at
// most the plan's script size.
func planLimits(plan *models.Plan) bundle.Limits {
	return bundle.Limits{MaxBundleBytes: min(plan.MaxScriptBytes, bundle.HardMaxBundleBytes)}
}

// betterPlanFor names the cheapest active plan satisfying ok, if any.
func (s *Server) betterPlanFor(c *fiber.Ctx, ok func(models.Plan) bool) string {
	plans, err := s.store.Plans(c.UserContext())
	if err != nil {
		return ""
	}
	for _, p := range plans {
		if p.Active && ok(p) {
			return p.Name
		}
	}
	return ""
}

func (s *Server) appVersionSave(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	up, err := readUpload(c)
	var v *models.Version
	if err == nil {
		v, err = s.saveVersion(c, a, up)
	}
	t, terr := s.codeTab(c, a)
	if terr != nil {
		return terr
	}
	// What was sent stays in the editor, saved or not; a refused upload shows its files.
	var be *bundle.Error
	switch {
	case up.Editor != nil:
		t.Files = up.Editor
	case len(up.Files) == 1 || errors.As(err, &be) && len(up.Files) > 0:
		t.Files = editorFilesOfUpload(up)
	}
	var pl *models.PlanLimitError
	var blocked *models.BlockedError
	switch {
	case errors.As(err, &be):
		if t.Latest != nil {
			explainNoMain(be, up, t.Latest.MainModule)
		}
		t.Problems = viewProblems(be.Problems)
		c.Status(fiber.StatusUnprocessableEntity)
		if be.Has("too_large") {
			c.Status(fiber.StatusRequestEntityTooLarge)
		}
		for i := range t.Files {
			f := &t.Files[i]
			if !utf8Valid(f.Code) {
				f.Code = toValidUTF8(f.Code)
			}
			if msg, ok := up.Unnamed[i]; ok {
				f.Problems = append(f.Problems, views.Problem{Kind: "bad_name", Message: msg})
			}
		}
		for _, pr := range be.Problems {
			if i := up.slotOf(pr); i >= 0 && i < len(t.Files) {
				t.Files[i].Problems = append(t.Files[i].Problems, viewProblem(pr))
			}
		}
	case errors.As(err, &pl):
		t.Problems = []views.Problem{{Kind: "too_large", Message: pl.Error()}}
		c.Status(fiber.StatusRequestEntityTooLarge)
	case errors.As(err, &blocked):
		t.Problems = []views.Problem{{Kind: "moderation", Message: blocked.Message + " (moderation rule " + blocked.Rule + ")"}}
		c.Status(fiber.StatusUnprocessableEntity)
	case errors.Is(err, models.ErrAppBusy):
		return fiber.NewError(fiber.StatusConflict, "The app is being deleted.")
	case err != nil:
		return err
	default:
		t.Saved, t.Latest = v, v
		// A version waiting for review is saved but not deployed; the page says so.
		if v.ReviewState != models.ReviewPending && c.FormValue("deploy") != "" {
			d, err := s.store.Deploy(c.UserContext(), a, v.ID)
			var td *models.TakenDownError
			if errors.As(err, &td) {
				return fiber.NewError(fiber.StatusConflict, "Saved as version "+strconv.Itoa(v.Number)+", not deployed: "+td.Error()+".")
			} else if err != nil {
				return err
			}
			s.syncNow(a)
			dv, err := s.deploymentView(c, a, d)
			if err != nil {
				return err
			}
			t.Deployment = &dv
		}
	}
	return render(c, views.AppCodePage(s.navPage(c, a.Name, "apps"), t))
}

// appDeploy deploys a version (rollback is deploying an older one).
func (s *Server) appDeploy(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(c.FormValue("version_id"), 10, 32)
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "Choose a version to deploy.")
	}
	d, err := s.store.Deploy(c.UserContext(), a, uint(id))
	var re *models.ReviewError
	var td *models.TakenDownError
	switch {
	case errors.As(err, &re):
		return fiber.NewError(fiber.StatusConflict, sentence(re.Error()))
	case errors.As(err, &td):
		return fiber.NewError(fiber.StatusConflict, sentence(td.Error()))
	case errors.Is(err, models.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "That version does not exist in this app.")
	case errors.Is(err, models.ErrAppBusy):
		return fiber.NewError(fiber.StatusConflict, "The app is being deleted.")
	case err != nil:
		return err
	}
	s.audit(c, &currentUser(c).ID, "deploy", "app:"+a.Slug, fmt.Sprintf("version %d", id))
	s.syncNow(a)
	if isHTMX(c) {
		dv, err := s.deploymentView(c, a, d)
		if err != nil {
			return err
		}
		return render(c, views.DeploymentStatus(s.page(c, ""), dv))
	}
	return s.redirectFlash(c, "/apps/"+a.Slug, "Deploy started: the status on the Code tab follows it to the edge.")
}

// appDeployment is the live status fragment the page polls.
func (s *Server) appDeployment(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "No such deployment.")
	}
	d, err := s.store.DeploymentByID(c.UserContext(), a.ID, uint(id))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No such deployment.")
	} else if err != nil {
		return err
	}
	dv, err := s.deploymentView(c, a, d)
	if err != nil {
		return err
	}
	return render(c, views.DeploymentStatus(s.page(c, ""), dv))
}

func (s *Server) appVersions(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	vs, err := s.store.Versions(ctx, a.ID)
	if err != nil {
		return err
	}
	t := views.VersionsTab{Header: s.appHeader(a), Versions: vs}
	if a.DeployedVersionID != nil {
		t.Live = *a.DeployedVersionID
	}
	ids := make([]uint, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.AuthorUserID)
	}
	if t.Authors, err = s.store.UserEmails(ctx, ids); err != nil {
		return err
	}
	from, _ := strconv.ParseUint(c.Query("from"), 10, 32)
	to, _ := strconv.ParseUint(c.Query("to"), 10, 32)
	// Without a choice the page compares the newest version with the one before it (vs is
	// newest first): what the last save changed.
	if from == 0 && to == 0 && len(vs) >= 2 {
		from, to = uint64(vs[1].ID), uint64(vs[0].ID)
	}
	if from != 0 && to != 0 {
		fv, err1 := s.store.VersionSources(ctx, a.ID, uint(from))
		tv, err2 := s.store.VersionSources(ctx, a.ID, uint(to))
		if errors.Is(err1, models.ErrNotFound) || errors.Is(err2, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "One of those versions does not exist in this app.")
		}
		if err1 != nil {
			return err1
		}
		if err2 != nil {
			return err2
		}
		t.From, t.To, t.Diff = fv, tv, viewDiff(fv.Sources, tv.Sources)
	}
	return render(c, views.AppVersionsPage(s.navPage(c, a.Name+" versions", "apps"), t))
}
