package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

const okWorker = "export default { async fetch(request, env, ctx) { return new Response('ok') } }\n"

func js(name, src string) File { return File{Name: name, Content: []byte(src)} }

func manyFiles(n int) []File {
	files := []File{js("index.js", okWorker)}
	for i := 1; i < n; i++ {
		files = append(files, js(fmt.Sprintf("f%d.js", i), "export const x = 1\n"))
	}
	return files
}

func TestBuildTable(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		main  string
		lim   Limits
		// wantKind is empty for an upload that must build.
		wantKind string
		wantFile string
		// wantUpload is the 1-based position of the file the problem must be about (0: not checked).
		wantUpload int
		// wantMsg must appear in the problem's message (bad) or, for a good
		// upload, in the bundled module.
		wantMsg string
		// notInOutput must not appear in the bundled module.
		notInOutput string
	}{
		// Good uploads.
		{name: "single js object export", files: []File{js("index.js", okWorker)}, main: "index.js", wantMsg: "export {"},
		{name: "main defaults to the only file", files: []File{js("w.mjs", okWorker)}, wantMsg: "Response"},
		{name: "typescript compiled",
			files: []File{js("index.ts", "interface Env { GREETING: string }\nconst h = { async fetch(req: Request, env: Env): Promise<Response> { return new Response(env.GREETING as string) } } satisfies ExportedHandler<Env>\nexport default h\n")},
			main:  "index.ts", wantMsg: "env.GREETING", notInOutput: "interface"},
		{name: "multi-file relative imports",
			files: []File{
				js("index.js", "import { greet } from './lib/greet.js'\nimport { twice } from './util'\nexport default { fetch() { return new Response(twice(greet('x'))) } }\n"),
				js("lib/greet.js", "import { upper } from '../util.js'\nexport function greet(n) { return upper('hello ' + n) }\n"),
				js("util.js", "export const upper = (s) => s.toUpperCase()\nexport const twice = (s) => s + s\n"),
			},
			main: "index.js", wantMsg: "toUpperCase", notInOutput: "import { greet }"},
		{name: "ts import written with .js extension finds the .ts file",
			files: []File{
				js("index.ts", "import { n } from './num.js'\nexport default { fetch(): Response { return new Response(String(n)) } }\n"),
				js("num.ts", "export const n: number = 42\n"),
			},
			main: "index.ts", wantMsg: "42"},
		{name: "directory import finds index.ts",
			files: []File{
				js("index.ts", "import { v } from './lib'\nexport default { fetch() { return new Response(v) } }\n"),
				js("lib/index.ts", "export const v = 'from-lib-index'\n"),
			},
			main: "index.ts", wantMsg: "from-lib-index"},
		{name: "class export extending WorkerEntrypoint",
			files: []File{js("index.ts", "import { WorkerEntrypoint } from 'cloudflare:workers'\nexport default class extends WorkerEntrypoint { async fetch(): Promise<Response> { return new Response('hi') } }\n")},
			main:  "index.ts", wantMsg: `from "cloudflare:workers"`},
		{name: "renamed default export", files: []File{js("index.js", "const handler = { fetch() { return new Response('') } }\nexport { handler as default }\n")}, main: "index.js", wantMsg: "as default"},
		{name: "type-only file is checked but not bundled",
			files: []File{
				js("index.ts", "import type { Env } from './types'\nexport default { fetch(r: Request, env: Env) { return new Response(env.NAME) } }\n"),
				js("types.ts", "export interface Env { NAME: string }\n"),
			},
			main: "index.ts", notInOutput: "interface"},
		{name: "exactly 50 files", files: manyFiles(50), main: "index.js", wantMsg: "Response"},
		{name: "declaration file name allowed", files: []File{js("index.ts", okWorker), js("env.d.ts", "declare const X: string\n")}, main: "index.ts", wantMsg: "Response"},

		// Nothing to build.
		{name: "no files", files: nil, wantKind: KindEmpty},
		{name: "all files empty", files: []File{js("index.js", ""), js("b.js", " \n\t")}, main: "index.js", wantKind: KindEmpty},

		// Counts.
		{name: "51 files", files: manyFiles(51), main: "index.js", wantKind: KindTooManyFiles, wantMsg: "51 files"},
		{name: "plan allows fewer files", files: manyFiles(4), main: "index.js", lim: Limits{MaxFiles: 3}, wantKind: KindTooManyFiles, wantMsg: "at most 3"},
		{name: "plan cannot raise the file cap above 50", files: manyFiles(51), main: "index.js", lim: Limits{MaxFiles: 1000}, wantKind: KindTooManyFiles, wantMsg: "at most 50"},

		// Names.
		{name: "parent path", files: []File{js("index.js", okWorker), js("../x.js", "")}, main: "index.js", wantKind: KindBadName, wantFile: "../x.js"},
		{name: "climbing path", files: []File{js("index.js", okWorker), js("a/../../b.js", "")}, main: "index.js", wantKind: KindBadName, wantFile: "a/../../b.js"},
		{name: "dot segment inside", files: []File{js("index.js", okWorker), js("a/./b.js", "")}, main: "index.js", wantKind: KindBadName},
		{name: "leading dot slash", files: []File{js("./index.js", okWorker)}, main: "./index.js", wantKind: KindBadName},
		{name: "absolute path", files: []File{js("/etc/x.js", okWorker)}, wantKind: KindBadName, wantMsg: "absolute"},
		{name: "backslash", files: []File{js(`lib\x.js`, okWorker)}, wantKind: KindBadName, wantMsg: `'\\'`},
		{name: "windows climbing", files: []File{js(`..\x.js`, okWorker)}, wantKind: KindBadName},
		{name: "NUL byte", files: []File{js("a\x00.js", okWorker)}, wantKind: KindBadName},
		{name: "empty name", files: []File{js("", okWorker)}, wantKind: KindBadName, wantMsg: "empty"},
		{name: "name too long", files: []File{js(strings.Repeat("a", 126)+".js", okWorker)}, wantKind: KindBadName, wantMsg: "129 characters"},
		{name: "double slash", files: []File{js("lib//x.js", okWorker)}, wantKind: KindBadName},
		{name: "hidden file", files: []File{js(".x.js", okWorker)}, wantKind: KindBadName},
		{name: "bare extension", files: []File{js("lib/.js", okWorker)}, wantKind: KindBadName},
		{name: "wrong extension", files: []File{js("index.py", okWorker)}, wantKind: KindBadName, wantMsg: ".js, .mjs and .ts"},
		{name: "upper-case extension", files: []File{js("index.JS", okWorker)}, wantKind: KindBadName},
		{name: "json not accepted", files: []File{js("index.js", okWorker), js("data.json", "{}")}, main: "index.js", wantKind: KindBadName, wantFile: "data.json"},
		{name: "space in name", files: []File{js("my worker.js", okWorker)}, wantKind: KindBadName},

		// Duplicates.
		{name: "same name twice", files: []File{js("index.js", okWorker), js("index.js", okWorker)}, main: "index.js", wantKind: KindDuplicate, wantFile: "index.js", wantUpload: 2},
		{name: "same name twice, first not UTF-8", files: []File{js("index.js", "\xff"), js("index.js", okWorker)}, main: "index.js", wantKind: KindDuplicate, wantMsg: "already named", wantUpload: 2},
		{name: "same name in another case", files: []File{js("index.js", okWorker), js("lib/A.js", ""), js("LIB/a.js", "")}, main: "index.js", wantKind: KindDuplicate, wantFile: "LIB/a.js", wantMsg: `"lib/A.js"`, wantUpload: 3},

		// Encoding.
		{name: "latin-1 source", files: []File{js("index.js", "// caf\xe9\nexport default {}\n")}, wantKind: KindNotUTF8, wantFile: "index.js"},
		{name: "invalid byte in second file", files: []File{js("index.js", okWorker), js("lib/b.js", "export const s = '\xff'\n")}, main: "index.js", wantKind: KindNotUTF8, wantFile: "lib/b.js", wantUpload: 2},

		// Main module.
		{name: "main module missing", files: []File{js("index.js", okWorker)}, main: "worker.js", wantKind: KindNoMain, wantFile: "worker.js"},
		{name: "main module not chosen among several", files: []File{js("a.js", okWorker), js("b.js", okWorker)}, wantKind: KindNoMain},
		{name: "no default export", files: []File{js("index.js", "export const fetch = () => new Response('')\n")}, main: "index.js", wantKind: KindNoDefaultExport, wantFile: "index.js"},
		{name: "default export only in an imported file", files: []File{js("index.js", "import h from './h.js'\nexport { h }\n"), js("h.js", okWorker)}, main: "index.js", wantKind: KindNoDefaultExport},

		// Syntax.
		{name: "js syntax error", files: []File{js("index.js", "export default { fetch( } }")}, main: "index.js", wantKind: KindSyntax, wantFile: "index.js", wantMsg: "Expected identifier"},
		{name: "syntax error in imported file", files: []File{js("index.js", "import { x } from './lib/x.js'\nexport default { x }\n"), js("lib/x.js", "export const x = ;\n")}, main: "index.js", wantKind: KindSyntax, wantFile: "lib/x.js"},
		{name: "syntax error in a file nobody imports", files: []File{js("index.js", okWorker), js("draft.js", "function (\n")}, main: "index.js", wantKind: KindSyntax, wantFile: "draft.js"},
		{name: "ts syntax error", files: []File{js("index.ts", "const x: = 1\nexport default {}\n")}, main: "index.ts", wantKind: KindSyntax, wantFile: "index.ts"},
		{name: "types in a .js file", files: []File{js("index.js", "const x: number = 1\nexport default {}\n")}, main: "index.js", wantKind: KindSyntax, wantFile: "index.js"},

		// Imports.
		{name: "npm package", files: []File{js("index.js", "import { Hono } from 'hono'\nexport default new Hono()\n")}, main: "index.js", wantKind: KindImport, wantFile: "index.js", wantMsg: "npm packages are not bundled"},
		{name: "node builtin", files: []File{js("index.js", "import { createHash } from 'node:crypto'\nexport default {}\n")}, main: "index.js", wantKind: KindImport, wantMsg: "Node.js"},
		{name: "missing relative file", files: []File{js("index.js", "import x from './nope.js'\nexport default x\n")}, main: "index.js", wantKind: KindImport, wantMsg: `"nope.js"`},
		{name: "import outside the upload", files: []File{js("index.js", "import x from '../secret.js'\nexport default x\n")}, main: "index.js", wantKind: KindImport, wantMsg: "outside"},
		{name: "absolute import", files: []File{js("index.js", "import x from '/etc/passwd'\nexport default x\n")}, main: "index.js", wantKind: KindImport, wantMsg: "relative path"},
		{name: "dynamic import of npm package", files: []File{js("index.js", "export default { async fetch() { const m = await import('lodash'); return new Response(m) } }\n")}, main: "index.js", wantKind: KindImport},
		{name: "require of npm package", files: []File{js("index.js", "const l = require('left-pad')\nexport default { l }\n")}, main: "index.js", wantKind: KindImport},

		// Size.
		{name: "sources over the plan", files: []File{js("index.js", okWorker+"// "+strings.Repeat("x", 300)+"\n")}, main: "index.js", lim: Limits{MaxSourceBytes: 200}, wantKind: KindTooLarge, wantMsg: "over the limit of 200 bytes"},
		{name: "one file over the plan", files: []File{js("index.js", okWorker), js("data.js", "export const s = '"+strings.Repeat("y", 5000)+"'\n")}, main: "index.js", lim: Limits{MaxBundleBytes: 4 << 10}, wantKind: KindTooLarge, wantFile: "data.js", wantUpload: 2, wantMsg: "over the limit of 4.0 KiB for one script"},
		{name: "bundle over the plan", files: []File{js("index.js", "import { s } from './a.js'\nimport { t } from './b.js'\nexport default { fetch() { return new Response(s + t) } }\n"), js("a.js", "export const s = '"+strings.Repeat("y", 2500)+"'\n"), js("b.js", "export const t = '"+strings.Repeat("z", 3000)+"'\n")}, main: "index.js", lim: Limits{MaxBundleBytes: 4 << 10}, wantKind: KindTooLarge, wantMsg: "over the limit of 4.0 KiB; the largest part is b.js (2.9 KiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Build(tt.files, tt.main, tt.lim)
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				if len(res.Modules) != 1 || res.Modules[0].Name != OutputModule || res.MainModule != OutputModule {
					t.Fatalf("modules = %+v, main = %q; want one %q", res.Modules, res.MainModule, OutputModule)
				}
				out := string(res.Modules[0].Content)
				if tt.wantMsg != "" && !strings.Contains(out, tt.wantMsg) {
					t.Errorf("output lacks %q:\n%s", tt.wantMsg, out)
				}
				if tt.notInOutput != "" && strings.Contains(out, tt.notInOutput) {
					t.Errorf("output contains %q:\n%s", tt.notInOutput, out)
				}
				if len(res.Sources) != len(tt.files) {
					t.Errorf("Sources has %d files, want %d", len(res.Sources), len(tt.files))
				}
				for _, f := range tt.files {
					if res.Sources[f.Name] != string(f.Content) {
						t.Errorf("Sources[%q] differs from the upload", f.Name)
					}
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("Build error = %v (%T), want *Error of kind %s", err, err, tt.wantKind)
			}
			var found *Problem
			for i, p := range be.Problems {
				if p.Kind == tt.wantKind && (tt.wantFile == "" || p.File == tt.wantFile) {
					found = &be.Problems[i]
					break
				}
			}
			if found == nil {
				t.Fatalf("no %s problem for file %q in:\n%v", tt.wantKind, tt.wantFile, be)
			}
			if tt.wantMsg != "" && !strings.Contains(found.Message, tt.wantMsg) {
				t.Errorf("message %q lacks %q", found.Message, tt.wantMsg)
			}
			if found.Message == "" {
				t.Error("problem has no message")
			}
			if tt.wantUpload != 0 && found.Upload != tt.wantUpload {
				t.Errorf("problem is about upload %d, want %d", found.Upload, tt.wantUpload)
			}
		})
	}
}

// The hard limit holds even when a plan claims more: non-ASCII text is
// escaped by esbuild, so a source under 10 MiB bundles to more than 10 MiB.
func TestBuildHardLimit(t *testing.T) {
	src := "export const s = '" + strings.Repeat("中", 3<<20/3*2) + "'\n" + okWorker
	if len(src) > int(HardMaxBundleBytes) {
		t.Fatalf("test source is %d bytes; it must fit the source limit", len(src))
	}
	_, err := Build([]File{js("index.js", src)}, "index.js", Limits{MaxBundleBytes: 1 << 40})
	var be *Error
	if !errors.As(err, &be) || !be.Has(KindTooLarge) {
		t.Fatalf("Build = %v, want too_large", err)
	}
	if msg := be.Problems[0].Message; !strings.Contains(msg, "over the limit of 10.0 MiB") {
		t.Errorf("message %q does not name the 10 MiB limit", msg)
	}
}

// Locations point at the offending character as an editor counts it:
// 1-based lines and columns, columns in characters, not bytes.
func TestBuildErrorLocationExact(t *testing.T) {
	tests := []struct {
		name, file, src, token string
		line                   int
	}{
		{"first line", "index.js", "export default { fetch( } }", "}", 1},
		{"after non-ASCII text", "index.js", "// héllo wörld\nconst s = 'ünïcödé'; let y = ;\nexport default {}\n", ";\n", 2},
		{"in a subdirectory ts file", "lib/x.ts", "export const a: number = 1\n\n\nexport const b = (x: number => x\n", "=>", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := []File{js(tt.file, tt.src)}
			main := tt.file
			if tt.file != "index.js" {
				files = append(files, js("index.js", "import * as x from './"+tt.file+"'\nexport default { x }\n"))
				main = "index.js"
			}
			_, err := Build(files, main, Limits{})
			var be *Error
			if !errors.As(err, &be) || len(be.Problems) == 0 {
				t.Fatalf("Build = %v, want a syntax error", err)
			}
			p := be.Problems[0]
			lineText := strings.Split(tt.src, "\n")[tt.line-1]
			wantCol := utf8.RuneCountInString(lineText[:strings.Index(lineText+"\n", tt.token)]) + 1
			if p.File != tt.file || p.Line != tt.line || p.Column != wantCol {
				t.Errorf("problem at %s:%d:%d, want %s:%d:%d (%s)", p.File, p.Line, p.Column, tt.file, tt.line, wantCol, p.Message)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	_, err := Build([]File{js("index.js", "export default { fetch( } }"), js("../x.js", "")}, "index.js", Limits{})
	if err == nil {
		t.Fatal("Build succeeded")
	}
	// Name problems are found before parsing, so only they are reported.
	if got, want := err.Error(), "../x.js: file name must not contain \".\" or \"..\" segments"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Build([]File{js("index.js", "export default { fetch( } }")}, "index.js", Limits{})
	if got, want := err.Error(), `index.js:1:25 Expected identifier but found "}"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestBuildReportsEveryUploadProblem(t *testing.T) {
	_, err := Build([]File{
		js("index.js", okWorker), js("../a.js", ""), js("b.js", "\xc3("), js("INDEX.js", ""),
	}, "index.js", Limits{})
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v", err)
	}
	for _, kind := range []string{KindBadName, KindNotUTF8, KindDuplicate} {
		if !be.Has(kind) {
			t.Errorf("no %s problem in:\n%v", kind, be)
		}
	}
	for _, p := range be.Problems {
		if p.Kind == KindNotUTF8 && (p.Line != 1 || p.Column != 1) {
			t.Errorf("not_utf8 at %d:%d, want 1:1", p.Line, p.Column)
		}
	}
}

func TestInvalidUTF8At(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
	}{
		{"\xff", 1, 1},
		{"ab\xff", 1, 3},
		{"a\nbé\xffc", 2, 3},
		{"\n\n\x80", 3, 1},
	}
	for _, tt := range tests {
		if line, col := invalidUTF8At([]byte(tt.src)); line != tt.line || col != tt.col {
			t.Errorf("invalidUTF8At(%q) = %d:%d, want %d:%d", tt.src, line, col, tt.line, tt.col)
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	files := []File{
		js("index.ts", "import { a } from './a.js'\nimport { b } from './lib/b.js'\nexport default { fetch() { return new Response(a + b) } }\n"),
		js("a.ts", "export const a: string = 'a'\n"),
		js("lib/b.js", "export const b = 'b'\n"),
	}
	first, err := Build(files, "index.ts", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(first.Modules[0].Content)
	if first.SHA256 != hex.EncodeToString(sum[:]) || first.Size != int64(len(first.Modules[0].Content)) {
		t.Errorf("SHA256/Size %s/%d do not describe the module", first.SHA256, first.Size)
	}
	reversed := []File{files[2], files[1], files[0]}
	for i, in := range [][]File{files, reversed} {
		again, err := Build(in, "index.ts", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if again.SHA256 != first.SHA256 {
			t.Errorf("build %d: hash %s, first build %s", i, again.SHA256, first.SHA256)
		}
	}
	changed := append([]File{}, files...)
	changed[1] = js("a.ts", "export const a: string = 'A'\n")
	other, err := Build(changed, "index.ts", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if other.SHA256 == first.SHA256 {
		t.Error("different code gave the same hash")
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"index.js", "worker.mjs", "src/index.ts", "a/b/c-d_e.1.js", "types.d.ts", strings.Repeat("a", 125) + ".js"}
	for _, n := range good {
		if why := checkName(n); why != "" {
			t.Errorf("checkName(%q) = %q, want accepted", n, why)
		}
	}
	bad := []string{"", "..", "../x.js", "a/../../b.js", "a/..", "/x.js", `a\b.js`, "a\x00.js", "x.js/", "a//b.js", ".js", "x.ts.bak", "x.tsx", "é.js", strings.Repeat("a", 126) + ".js"}
	for _, n := range bad {
		if why := checkName(n); why == "" {
			t.Errorf("checkName(%q) accepted a bad name", n)
		}
	}
}

func TestBuildWarnings(t *testing.T) {
	src := "export default {\n  fetch(req) { return new Response(String(req.x === -0)) },\n}\n"
	res, err := Build([]File{js("index.js", src)}, "index.js", Limits{})
	if err != nil {
		t.Fatalf("a warning must not stop the build: %v", err)
	}
	if len(res.Warnings) != 1 {
		t.Fatalf("warnings = %v, want one", res.Warnings)
	}
	w := res.Warnings[0]
	if w.Kind != KindWarning || w.File != "index.js" || w.Line != 2 || !strings.Contains(w.Message, "-0") {
		t.Errorf("warning = %+v", w)
	}
}
