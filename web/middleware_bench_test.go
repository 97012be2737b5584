package web

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The per-request cost the security middleware adds to every page view:
// the CSRF token (an HMAC) and the body-limit decision.
func BenchmarkCSRFToken(b *testing.B) {
	s := &Server{csrfKey: csrfKeyFrom(make([]byte, 32))}
	binding := "session:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	b.ReportAllocs()
	for b.Loop() {
		s.csrfToken(binding)
	}
}

func BenchmarkBodyPolicy(b *testing.B) {
	s := &Server{bodyTimeout: 1}
	for _, c := range []struct{ name, req string }{
		{"page view", "GET /dashboard HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"small form", "POST /settings/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"},
	} {
		var h fasthttp.RequestHeader
		if err := h.Read(bufioReader(c.req)); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.bodyPolicyFor(&h)
			}
		})
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
