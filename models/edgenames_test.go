package models

import (
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var updateEdgeNames = flag.Bool("update-edge-names", false, "rewrite testdata/edge_names.json")

// edgeNameCase is one slug and the names built from it, as the dispatcher's tests read them.
type edgeNameCase struct {
	Slug      string `json:"slug"`
	Script    string `json:"script"`
	ConfigKey string `json:"config_key"`
	AppTag    string `json:"app_tag"`
	ShardTag  string `json:"shard_tag"`
}

// TestEdgeNamesGolden keeps testdata/edge_names.json equal to what edgenames.go builds; the
// dispatcher's node tests (workers/dispatcher/config.test.js) read the same file, so a change of
// a name on one side fails until the other side follows.
func TestEdgeNamesGolden(t *testing.T) {
	var cases []edgeNameCase
	for _, slug := range []string{"shop", "my-api", "a1b", "weather-2026"} {
		cases = append(cases, edgeNameCase{Slug: slug, Script: ScriptName(slug), ConfigKey: ConfigKey(slug),
			AppTag: AppTag(slug), ShardTag: ShardTag(ScriptName(slug))})
	}
	want, err := json.MarshalIndent(map[string]any{"cases": cases}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const path = "testdata/edge_names.json"
	if *updateEdgeNames {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale (go test ./models -run TestEdgeNamesGolden -update-edge-names):\n got %s\nwant %s", path, got, want)
	}
}
