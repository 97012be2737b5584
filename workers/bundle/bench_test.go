package bundle

import (
	"fmt"
	"strings"
	"testing"
)

// bigWorker makes a TypeScript worker of about size bytes spread over ten
// files, all reachable from index.ts, so every byte is parsed and bundled.
func bigWorker(size int) []File {
	const parts = 10
	var files []File
	var index strings.Builder
	index.WriteString("import { WorkerEntrypoint } from 'cloudflare:workers'\n")
	for p := range parts {
		var b strings.Builder
		for i := 0; b.Len() < size/parts; i++ {
			fmt.Fprintf(&b, "export interface Row%d { id: number; name: string; tags: string[] }\n", i)
			fmt.Fprintf(&b, "export function handler%d(rows: Row%d[], q: string): string {\n", i, i)
			fmt.Fprintf(&b, "  const hits = rows.filter((r) => r.name.includes(q) || r.tags.some((t) => t === q))\n")
			fmt.Fprintf(&b, "  return JSON.stringify({ part: %d, fn: %d, count: hits.length, ids: hits.map((r) => r.id) })\n}\n", p, i)
		}
		files = append(files, File{Name: fmt.Sprintf("lib/part%d.ts", p), Content: []byte(b.String())})
		fmt.Fprintf(&index, "import * as part%d from './lib/part%d.js'\n", p, p)
	}
	index.WriteString("const parts = [")
	for p := range parts {
		fmt.Fprintf(&index, "part%d, ", p)
	}
	index.WriteString("]\nexport default class extends WorkerEntrypoint {\n  async fetch(req: Request): Promise<Response> {\n    const u = new URL(req.url)\n    const mod = parts[Number(u.searchParams.get('p'))] as Record<string, unknown>\n    return new Response(String(mod[u.pathname.slice(1)]))\n  }\n}\n")
	return append(files, File{Name: "index.ts", Content: []byte(index.String())})
}

func BenchmarkBuild100KB(b *testing.B) {
	files := bigWorker(100 << 10)
	var total int
	for _, f := range files {
		total += len(f.Content)
	}
	b.SetBytes(int64(total))
	var size int64
	for b.Loop() {
		res, err := Build(files, "index.ts", Limits{})
		if err != nil {
			b.Fatal(err)
		}
		size = res.Size
	}
	b.ReportMetric(float64(size), "bundle-bytes")
}

func BenchmarkDiff100KB(b *testing.B) {
	old := bigWorker(100 << 10)
	oldFiles, newFiles := map[string]string{}, map[string]string{}
	for i, f := range old {
		oldFiles[f.Name] = string(f.Content)
		text := string(f.Content)
		if i%2 == 0 {
			// A few scattered edits per file, as a tenant's save would make.
			text = strings.Replace(text, "count: hits.length", "count: hits.length + 0", 3)
		}
		newFiles[f.Name] = text
	}
	for b.Loop() {
		Diff(oldFiles, newFiles)
	}
}

// The worst case the guard allows for: two unrelated 10,000-line files.
func BenchmarkDiffUnrelated(b *testing.B) {
	var x, y strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&x, "old %d\n", i)
		fmt.Fprintf(&y, "new %d\n", i)
	}
	oldFiles, newFiles := map[string]string{"f.js": x.String()}, map[string]string{"f.js": y.String()}
	for b.Loop() {
		Diff(oldFiles, newFiles)
	}
}
