package models

import (
	"strings"
	"testing"
)

func TestValidateTags(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"weather, forecast", "weather,forecast", ""},
		{"a\nb\nA", "a,b", ""},
		{"", "", ""},
		{"a,b,c,d,e,f", "", "at most 5"},
		{"bad\x01tag", "", "control"},
		{"café", "", "non-ASCII"},
		{strings.Repeat("x", 33), "", "longer than 32"},
	} {
		got, err := ValidateTags(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%q: %v %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestIconURLProblem(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"https://example.com/icon.png", true},
		{"http://cdn.example.org/i.svg", true},
		{"https://user:pw@example.com/i.png", false},
		{"https://127.0.0.1/i.png", false},
		{"https://[::1]/i.png", false},
		{"https://localhost/i.png", false},
		{"https://%6cocalhost/i.png", false},
		{"https://2130706433/i.png", false},
		{"https://0x7f000001/i.png", false},
		{"https://a.localhost/i.png", false},
		{"data:image/png;base64,AAAA", false},
		{"ftp://example.com/i.png", false},
		{"/relative.png", false},
		{"https://example.com/" + strings.Repeat("a", 2048), false},
		{"https://exa\tmple.com/", false},
	} {
		if got := IconURLProblem(tc.in) == ""; got != tc.ok {
			t.Errorf("%q: ok %v, want %v (%s)", tc.in, got, tc.ok, IconURLProblem(tc.in))
		}
	}
}

func TestValidateDiscovery(t *testing.T) {
	schema := `{"type":"object","properties":{"city":{"type":"string","minLength":2}},"required":["city"]}`
	for _, tc := range []struct {
		name, method string
		in           DiscoveryInput
		field, msg   string
	}{
		{"get ok", "GET", DiscoveryInput{InputExample: `{"city": "Paris"}`, InputSchema: schema, OutputExample: `{"t": 1}`}, "", ""},
		{"post ok", "POST", DiscoveryInput{InputExample: `{"q":"x"}`, InputSchema: `{"type":"object"}`}, "", ""},
		{"bad json names position", "GET", DiscoveryInput{InputExample: "{\n  \"city\": }"}, "input_example", "line 2, column 11"},
		{"query param not string", "GET", DiscoveryInput{InputExample: `{"n": 1}`}, "input_example", "must be a string"},
		{"example breaks schema", "GET", DiscoveryInput{InputExample: `{"city":"P"}`, InputSchema: schema}, "input_example", "/city: at least 2"},
		{"remote ref", "GET", DiscoveryInput{InputSchema: `{"properties":{"a":{"$ref":"https://evil.example/s.json"}}}`}, "input_schema", "/properties/a/$ref"},
		{"bad type", "GET", DiscoveryInput{InputSchema: `{"type":"text"}`}, "input_schema", "/type"},
		{"bad pattern", "GET", DiscoveryInput{InputSchema: `{"pattern":"(("}`}, "input_schema", "/pattern"},
		{"old draft", "GET", DiscoveryInput{InputSchema: `{"$schema":"http://json-schema.org/draft-07/schema#"}`}, "input_schema", "2020-12"},
		{"oversize", "GET", DiscoveryInput{OutputExample: `"` + strings.Repeat("a", 16<<10) + `"`}, "output_example", "16 KiB"},
		{"body type on GET", "GET", DiscoveryInput{BodyType: "json"}, "body_type", "POST"},
		{"unknown body type", "POST", DiscoveryInput{BodyType: "xml"}, "body_type", "json, form-data or text"},
		{"two values", "GET", DiscoveryInput{OutputExample: `{} {}`}, "output_example", "more than one"},
	} {
		d, err := ValidateDiscovery(tc.method, tc.in)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			if tc.method == "POST" && d.BodyType != "json" {
				t.Errorf("%s: body type %q", tc.name, d.BodyType)
			}
			continue
		}
		fe, ok := AsFieldError(err)
		if !ok || fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
			t.Errorf("%s: %v, want %s: …%s…", tc.name, err, tc.field, tc.msg)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	x := Route{Access: AccessX402, Network: "eip155:84532"}
	key := Route{Access: AccessAPIKey}
	pub := Route{Access: AccessPublic}
	for _, tc := range []struct {
		name  string
		r     Route
		in    LimitsInput
		field string
		want  RouteLimits
	}{
		{"rates", pub, LimitsInput{RatePerSecond: "5", Burst: "10", RatePerMinute: "100"}, "", RouteLimits{RatePerSecond: 5, Burst: 10, RatePerMinute: 100}},
		{"quota", key, LimitsInput{DailyQuota: "100", MonthlyQuota: "1000"}, "", RouteLimits{DailyQuota: 100, MonthlyQuota: 1000}},
		{"spend cap", x, LimitsInput{DailySpendCap: "$5", ChallengesPerMinute: "60"}, "", RouteLimits{DailySpendCap: "5000000", ChallengesPerMinute: 60}},
		{"zero", pub, LimitsInput{RatePerSecond: "0"}, "rate_per_second", RouteLimits{}},
		{"negative", pub, LimitsInput{RatePerMinute: "-1"}, "rate_per_minute", RouteLimits{}},
		{"above cap", pub, LimitsInput{RatePerSecond: "1001"}, "rate_per_second", RouteLimits{}},
		{"quota on public", pub, LimitsInput{DailyQuota: "5"}, "daily_quota", RouteLimits{}},
		{"spend cap on key", key, LimitsInput{DailySpendCap: "1"}, "daily_spend_cap", RouteLimits{}},
		{"burst alone", pub, LimitsInput{Burst: "3"}, "burst", RouteLimits{}},
		{"daily over monthly", key, LimitsInput{DailyQuota: "50", MonthlyQuota: "10"}, "daily_quota", RouteLimits{}},
		{"zero spend", x, LimitsInput{DailySpendCap: "0"}, "daily_spend_cap", RouteLimits{}},
	} {
		got, err := ValidateLimits(tc.r, tc.in, DefaultLimitCaps)
		if tc.field == "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
			}
			continue
		}
		if fe, ok := AsFieldError(err); !ok || fe.Field != tc.field {
			t.Errorf("%s: %v, want field %s", tc.name, err, tc.field)
		}
	}
}

func TestValidateListing(t *testing.T) {
	l, err := ValidateListing(ListingInput{Description: " Weather ", Tags: "weather, Weather, maps", IconURL: "https://example.com/i.png", Listed: true})
	if err != nil || l.Description != "Weather" || l.Tags != "weather,maps" || !l.Listed {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := ValidateListing(ListingInput{IconURL: "https://10.0.0.1/i.png"}); err == nil {
		t.Fatal("IP icon host accepted")
	}
}
