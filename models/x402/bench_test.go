package x402

import "testing"

func BenchmarkMatch(b *testing.B) {
	p, err := ParsePattern("GET", "/api/users/:id/*")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !p.Match("GET", "/API/users/42/posts/7?expand=1") {
			b.Fatal("no match")
		}
	}
}

func BenchmarkParsePrice(b *testing.B) {
	for b.Loop() {
		if _, err := ParsePrice("$1,000.50 USDC", 6); err != nil {
			b.Fatal(err)
		}
	}
}
