// Package bundle validates tenant Worker code and bundles it into the single
// ES module that is uploaded to the dispatch namespace, and diffs the sources
// of two versions.
//
// Build never touches the file system or the network: every import is served
// from the uploaded files by an esbuild plugin. What an upload may contain:
//
//   - .js, .mjs and .ts files, at most 50, with clean relative names; "lib/x.js"
//     is fine, "../x.js", "a/../b.js", "/x.js", "a\\b.js" are not (see checkName).
//     Two names that differ only in case are refused as duplicates: they would
//     collide on the case-insensitive disks people upload from.
//   - Relative imports between uploaded files ("./util.js", "../lib/x.ts").
//     As in TypeScript, "./util.js" finds util.ts when there is no util.js, and an
//     import without an extension tries .ts, .js, .mjs, then /index.{ts,js,mjs}.
//   - "cloudflare:*" imports (cloudflare:workers, cloudflare:sockets, …) are left
//     external: the Workers runtime provides them.
//   - Everything else bare is refused with a clear message: npm packages are not
//     bundled (there is no registry access at build time), and "node:*" modules
//     are refused because tenant scripts are not deployed with nodejs_compat.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/evanw/esbuild/pkg/api"
)

// HardMaxBundleBytes is the largest bundle any plan may upload: Cloudflare's
// own limit for a Worker on the paid plan.
const HardMaxBundleBytes int64 = 10 << 20

// HardMaxFiles caps the number of uploaded files whatever the plan says.
const HardMaxFiles = 50

// OutputModule is the name of the one module Build produces.
const OutputModule = "worker.js"

// Problem kinds.
const (
	KindSyntax          = "syntax"            // esbuild could not parse or compile a file
	KindImport          = "import"            // an import that cannot be satisfied from the upload
	KindNoDefaultExport = "no_default_export" // the main module has no default export
	KindNoMain          = "no_main"           // the main module is missing or not named
	KindTooLarge        = "too_large"         // sources or bundle over the limit
	KindBadName         = "bad_name"          // a file name that breaks the naming rules
	KindNotUTF8         = "not_utf8"          // a file that is not valid UTF-8
	KindEmpty           = "empty"             // nothing uploaded, or only empty files
	KindTooManyFiles    = "too_many_files"    // more files than allowed
	KindDuplicate       = "duplicate"         // the same name twice, possibly differing in case
	KindWarning         = "warning"           // an esbuild warning (only in Result.Warnings)
)

// File is one uploaded source file, named as the user named it.
type File struct {
	Name    string
	Content []byte
}

// Limits come from the tenant's plan. Zero values mean the hard maximum;
// values above the hard maximum are lowered to it.
type Limits struct {
	MaxFiles       int
	MaxBundleBytes int64
	MaxSourceBytes int64 // all uploaded files together
	// MaxFileBytes caps one file: a single file larger than the whole
	// bundle may be is refused on that file. Zero means MaxBundleBytes.
	MaxFileBytes int64
}

func (l Limits) normalized() Limits {
	if l.MaxFiles <= 0 || l.MaxFiles > HardMaxFiles {
		l.MaxFiles = HardMaxFiles
	}
	if l.MaxBundleBytes <= 0 || l.MaxBundleBytes > HardMaxBundleBytes {
		l.MaxBundleBytes = HardMaxBundleBytes
	}
	// Sources are stored with every version, so they get the same ceiling as
	// the bundle; esbuild drops comments and types, so a source that fits
	// almost always bundles smaller.
	if l.MaxSourceBytes <= 0 || l.MaxSourceBytes > HardMaxBundleBytes {
		l.MaxSourceBytes = HardMaxBundleBytes
	}
	if l.MaxFileBytes <= 0 || l.MaxFileBytes > l.MaxSourceBytes {
		l.MaxFileBytes = min(l.MaxBundleBytes, l.MaxSourceBytes)
	}
	return l
}

// Module is one module of the upload to Cloudflare.
type Module struct {
	Name    string
	Content []byte
}

// Result is a successful build.
type Result struct {
	MainModule string // the upload's main module: always OutputModule
	// Entry is the tenant's own main module, as named in Sources: the
	// version keeps it, so the editor opens the files the tenant wrote.
	Entry   string
	Modules []Module // what gets uploaded: one bundled ES module
	SHA256  string   // hex digest of the bundled module
	Size    int64    // bytes of the bundled module
	// Sources are the uploaded files by name, kept with the version for the
	// editor and for Diff.
	Sources map[string]string
	// SourceMap maps the bundle back to Sources (SourceMapModule); nil when
	// the bundle and its map together would be over HardMaxBundleBytes.
	SourceMap []byte
	// Warnings are esbuild's warnings (e.g. a comparison with -0); they do not
	// stop the build.
	Warnings []Problem
}

// Problem is one reason the upload was refused.
type Problem struct {
	File   string // as uploaded; empty when the problem is about the whole upload
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based, in characters (runes) of the line; 0 when unknown
	// Message says what is wrong in words a tenant can act on.
	Message string
	Kind    string
	// Upload is the 1-based position, in the files given to Build, of the
	// file the problem is about (0 when it is about no one file, or only
	// known by name). Two files may share a name; the position tells which.
	Upload int
}

func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d:%d %s", p.File, p.Line, p.Column, p.Message)
	case p.File != "":
		return p.File + ": " + p.Message
	default:
		return p.Message
	}
}

// Error is returned by Build when the upload is refused; it lists every
// problem found, not only the first, so the editor can mark them all.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Has reports whether one of the problems is of the given kind.
func (e *Error) Has(kind string) bool {
	return slices.ContainsFunc(e.Problems, func(p Problem) bool { return p.Kind == kind })
}

// Build validates files and bundles them, starting from mainModule, into one
// ES module. A refused upload returns an *Error; Build returns no other error.
// When mainModule is empty and exactly one file was uploaded, that file is
// the main module.
func Build(files []File, mainModule string, lim Limits) (Result, error) {
	lim = lim.normalized()
	sources, main, problems := check(files, mainModule, lim)
	if len(problems) > 0 {
		return Result{}, &Error{Problems: problems}
	}

	res := api.Build(api.BuildOptions{
		EntryPoints: []string{main},
		Bundle:      true,
		Format:      api.FormatESModule,
		Platform:    api.PlatformNeutral,
		// ES2024 is well inside what workerd's V8 implements, so esbuild
		// lowers almost nothing and the output stays close to the source.
		Target:   api.ES2024,
		Write:    false,
		Metafile: true,
		Outfile:  OutputModule,
		// A fixed working directory keeps output paths, and so the output,
		// independent of where the portal happens to run.
		AbsWorkingDir: "/",
		// An explicit tsconfig stops esbuild looking for one on disk.
		TsconfigRaw: "{}",
		LogLevel:    api.LogLevelSilent,
		Plugins:     []api.Plugin{uploadPlugin(sources)},
		// A linked source map (worker.js.map, named by the bundle's last
		// line) maps the bundle's lines back to the tenant's files: the
		// portal rewrites stack positions with it and Cloudflare remaps
		// uncaught exceptions. The sources themselves are stored with the
		// version, so the map leaves them out.
		Sourcemap:      api.SourceMapLinked,
		SourcesContent: api.SourcesContentExclude,
	})
	// esbuild may report errors from parallel parses in any order; sorting
	// keeps the answer for the same upload the same.
	slices.SortStableFunc(res.Errors, func(a, b api.Message) int { return compareLocation(a.Location, b.Location) })

	if len(res.Errors) > 0 {
		return Result{}, &Error{Problems: messagesToProblems(res.Errors, KindSyntax)}
	}
	warnings := messagesToProblems(res.Warnings, KindWarning)

	var out, srcMap []byte
	for _, f := range res.OutputFiles {
		switch path.Base(f.Path) {
		case OutputModule:
			out = f.Contents
		case SourceMapModule:
			srcMap = f.Contents
		}
	}
	if out == nil {
		return Result{}, &Error{Problems: []Problem{{Kind: KindSyntax, Message: "bundle: esbuild produced no output"}}}
	}

	meta, err := readMetafile(res.Metafile)
	if err != nil {
		return Result{}, &Error{Problems: []Problem{{Kind: KindSyntax, Message: err.Error()}}}
	}
	// Files the main module never imports are not bundled, but they are
	// stored with the version and shown in the editor, so they must parse too.
	if problems := checkUnbundled(sources, meta); len(problems) > 0 {
		return Result{}, &Error{Problems: problems}
	}
	hasDefault := slices.Contains(meta.Outputs[OutputModule].Exports, "default")
	if !hasDefault {
		return Result{}, &Error{Problems: []Problem{{
			File: main, Kind: KindNoDefaultExport,
			Message: "the main module has no default export; a Worker must `export default { async fetch(request, env, ctx) { … } }` or a class that extends WorkerEntrypoint",
		}}}
	}

	size := int64(len(out))
	if size > lim.MaxBundleBytes {
		msg := fmt.Sprintf("the bundled worker is %s, %s over the limit of %s",
			humanBytes(size), humanBytes(size-lim.MaxBundleBytes), humanBytes(lim.MaxBundleBytes))
		if name, n := largestInput(meta); name != "" {
			msg += fmt.Sprintf("; the largest part is %s (%s)", name, humanBytes(n))
		}
		return Result{}, &Error{Problems: []Problem{{Kind: KindTooLarge, Message: msg}}}
	}

	if srcMap != nil {
		if srcMap, err = cleanSourceMap(srcMap); err != nil {
			return Result{}, &Error{Problems: []Problem{{Kind: KindSyntax, Message: err.Error()}}}
		}
		// The map goes up with the bundle: when both would not fit in one
		// upload, the bundle goes alone and stacks keep the bundle's lines.
		if size+int64(len(srcMap)) > HardMaxBundleBytes {
			srcMap = nil
		}
	}

	sum := sha256.Sum256(out)
	return Result{
		MainModule: OutputModule,
		Entry:      main,
		Modules:    []Module{{Name: OutputModule, Content: out}},
		SHA256:     hex.EncodeToString(sum[:]),
		Size:       size,
		Sources:    sources,
		SourceMap:  srcMap,
		Warnings:   warnings,
	}, nil
}

// check applies every rule that needs no parsing. It reports all problems it
// finds, except that a count over the limit stops it: checking each of
// thousands of files would only bury that one message.
func check(files []File, mainModule string, lim Limits) (map[string]string, string, []Problem) {
	if len(files) == 0 {
		return nil, "", []Problem{{Kind: KindEmpty, Message: "nothing was uploaded; add at least one .js, .mjs or .ts file"}}
	}
	if len(files) > lim.MaxFiles {
		return nil, "", []Problem{{Kind: KindTooManyFiles,
			Message: fmt.Sprintf("%d files were uploaded; at most %d are allowed", len(files), lim.MaxFiles)}}
	}

	var problems []Problem
	sources := make(map[string]string, len(files))
	folded := make(map[string]string, len(files))
	var total int64
	allEmpty := true
	for i, f := range files {
		if why := checkName(f.Name); why != "" {
			problems = append(problems, Problem{File: f.Name, Upload: i + 1, Kind: KindBadName, Message: why})
			continue
		}
		if other, dup := folded[strings.ToLower(f.Name)]; dup {
			msg := fmt.Sprintf("another file is already named %q; rename this one", f.Name)
			if other != f.Name {
				msg = fmt.Sprintf("this name differs from %q only in case; rename one of them", other)
			}
			problems = append(problems, Problem{File: f.Name, Upload: i + 1, Kind: KindDuplicate, Message: msg})
			continue
		}
		folded[strings.ToLower(f.Name)] = f.Name
		total += int64(len(f.Content))
		if n := int64(len(f.Content)); n > lim.MaxFileBytes {
			problems = append(problems, Problem{File: f.Name, Upload: i + 1, Kind: KindTooLarge,
				Message: fmt.Sprintf("this file is %s, %s over the limit of %s for one script",
					humanBytes(n), humanBytes(n-lim.MaxFileBytes), humanBytes(lim.MaxFileBytes))})
			continue
		}
		if !utf8.Valid(f.Content) {
			line, col := invalidUTF8At(f.Content)
			problems = append(problems, Problem{File: f.Name, Upload: i + 1, Line: line, Column: col, Kind: KindNotUTF8,
				Message: "this file is not valid UTF-8; save it as UTF-8 and upload it again"})
			continue
		}
		if strings.TrimSpace(string(f.Content)) != "" {
			allEmpty = false
		}
		sources[f.Name] = string(f.Content)
	}
	if len(problems) == 0 && allEmpty {
		problems = append(problems, Problem{Kind: KindEmpty, Message: "every uploaded file is empty"})
	}
	if total > lim.MaxSourceBytes {
		problems = append(problems, Problem{Kind: KindTooLarge,
			Message: fmt.Sprintf("the uploaded files total %s, %s over the limit of %s",
				humanBytes(total), humanBytes(total-lim.MaxSourceBytes), humanBytes(lim.MaxSourceBytes))})
	}

	if mainModule == "" && len(files) == 1 {
		mainModule = files[0].Name
	}
	switch {
	case mainModule == "":
		problems = append(problems, Problem{Kind: KindNoMain, Message: "choose which file is the main module"})
	case !slices.ContainsFunc(files, func(f File) bool { return f.Name == mainModule }):
		problems = append(problems, Problem{File: mainModule, Kind: KindNoMain,
			Message: fmt.Sprintf("the main module %s is not among the files; add it back or choose another main module", mainModule)})
	}
	return sources, mainModule, problems
}

// invalidUTF8At returns the 1-based line and column of the first byte that
// is not UTF-8, so the editor can point at it.
func invalidUTF8At(b []byte) (line, col int) {
	line, col = 1, 1
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		b = b[n:]
	}
	return line, col
}

const namespace = "upload"

// uploadPlugin serves the uploaded files to esbuild and decides every import,
// so nothing is ever read from disk or node_modules.
func uploadPlugin(sources map[string]string) api.Plugin {
	return api.Plugin{
		Name: "402claw-upload",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: `.*`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
				if args.Kind == api.ResolveEntryPoint {
					return api.OnResolveResult{Path: args.Path, Namespace: namespace}, nil
				}
				name, external, why := resolveImport(sources, args.Importer, args.Path)
				if why != "" {
					return api.OnResolveResult{Errors: []api.Message{{Text: why, Detail: KindImport}}}, nil
				}
				if external {
					return api.OnResolveResult{Path: args.Path, External: true}, nil
				}
				return api.OnResolveResult{Path: name, Namespace: namespace}, nil
			})
			b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: namespace}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
				src, ok := sources[args.Path]
				if !ok {
					// Resolution only hands out names present in sources.
					return api.OnLoadResult{}, fmt.Errorf("bundle: unable to load %q: not uploaded", args.Path)
				}
				loader := api.LoaderJS
				if strings.HasSuffix(args.Path, ".ts") {
					loader = api.LoaderTS
				}
				return api.OnLoadResult{Contents: &src, Loader: loader}, nil
			})
		},
	}
}

// resolveImport maps an import specifier found in importer to an uploaded
// file name, or says the import is external, or why it cannot be satisfied.
func resolveImport(sources map[string]string, importer, spec string) (name string, external bool, why string) {
	switch {
	case strings.HasPrefix(spec, "cloudflare:"):
		return "", true, ""
	case strings.HasPrefix(spec, "node:"):
		return "", false, fmt.Sprintf("%q is a Node.js module; Node.js APIs are not enabled for workers on this platform", spec)
	case strings.HasPrefix(spec, "/"):
		return "", false, fmt.Sprintf("cannot import %q: use a relative path such as \"./%s\"", spec, strings.TrimLeft(spec, "/"))
	case !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../"):
		return "", false, fmt.Sprintf("cannot import %q: npm packages are not bundled; upload the code you need as a file and import it with a relative path", spec)
	}

	target := path.Join(path.Dir(importer), spec)
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", false, fmt.Sprintf("cannot import %q: it points outside the uploaded files", spec)
	}
	for _, c := range candidates(target) {
		if _, ok := sources[c]; ok {
			return c, false, ""
		}
	}
	return "", false, fmt.Sprintf("cannot import %q: no uploaded file is named %q", spec, target)
}

// candidates lists the names an import may refer to, in the order
// TypeScript's bundler resolution would try them.
func candidates(target string) []string {
	switch path.Ext(target) {
	case ".ts", ".mjs":
		return []string{target}
	case ".js":
		return []string{target, strings.TrimSuffix(target, ".js") + ".ts"}
	}
	return []string{
		target, target + ".ts", target + ".js", target + ".mjs",
		target + "/index.ts", target + "/index.js", target + "/index.mjs",
	}
}

// messagesToProblems turns esbuild messages into problems that name files as
// the user uploaded them and count columns from 1 in characters.
func messagesToProblems(msgs []api.Message, kind string) []Problem {
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{Kind: kind, Message: m.Text}
		if k, ok := m.Detail.(string); ok && k != "" && kind != KindWarning {
			p.Kind = k
		}
		if loc := m.Location; loc != nil {
			p.File = strings.TrimPrefix(loc.File, namespace+":")
			p.Line = loc.Line
			col := loc.Column
			if col > len(loc.LineText) {
				col = len(loc.LineText)
			}
			p.Column = utf8.RuneCountInString(loc.LineText[:col]) + 1
		}
		out = append(out, p)
	}
	return out
}

type metafile struct {
	Inputs  map[string]json.RawMessage `json:"inputs"`
	Outputs map[string]struct {
		// Exports names "default" exactly when the entry point has a
		// default export.
		Exports []string `json:"exports"`
		Inputs  map[string]struct {
			BytesInOutput int64 `json:"bytesInOutput"`
		} `json:"inputs"`
	} `json:"outputs"`
}

func readMetafile(text string) (metafile, error) {
	var meta metafile
	if err := json.Unmarshal([]byte(text), &meta); err != nil {
		return meta, fmt.Errorf("bundle: unable to read esbuild's metafile: %w", err)
	}
	if _, ok := meta.Outputs[OutputModule]; !ok {
		return meta, fmt.Errorf("bundle: esbuild's metafile has no output %q", OutputModule)
	}
	return meta, nil
}

// largestInput names the uploaded file that takes the most bytes of the bundle.
func largestInput(meta metafile) (string, int64) {
	var name string
	var most int64
	for in, b := range meta.Outputs[OutputModule].Inputs {
		if b.BytesInOutput > most || b.BytesInOutput == most && in < name {
			name, most = strings.TrimPrefix(in, namespace+":"), b.BytesInOutput
		}
	}
	return name, most
}

// checkUnbundled parses, without bundling, every uploaded file that the build
// did not reach (helpers not yet imported, files only imported for types).
func checkUnbundled(sources map[string]string, meta metafile) []Problem {
	names := make([]string, 0, len(sources))
	for name := range sources {
		if _, reached := meta.Inputs[namespace+":"+name]; !reached {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var problems []Problem
	for _, name := range names {
		loader := api.LoaderJS
		if strings.HasSuffix(name, ".ts") {
			loader = api.LoaderTS
		}
		res := api.Transform(sources[name], api.TransformOptions{
			Loader: loader, Format: api.FormatESModule, Target: api.ES2024,
			Sourcefile: name, TsconfigRaw: "{}", LogLevel: api.LogLevelSilent,
		})
		problems = append(problems, messagesToProblems(res.Errors, KindSyntax)...)
	}
	return problems
}

func compareLocation(a, b *api.Location) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if c := strings.Compare(a.File, b.File); c != 0 {
		return c
	}
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	return a.Column - b.Column
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
}
