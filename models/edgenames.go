package models

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// The names 402claw uses at Cloudflare are built here and nowhere else: the script of an app in
// the dispatch namespace, the KV key of its config document, and the tags on its script. The
// dispatcher reads the config key too (workers/dispatcher/config.js configKey); the golden file
// testdata/edge_names.json, written from these functions, keeps the two in step.

// ScriptNamePrefix starts the script name of every app.
const ScriptNamePrefix = "app-"

// ScriptName is the name of an app's script in the dispatch namespace.
func ScriptName(slug string) string { return ScriptNamePrefix + slug }

// ConfigKeyPrefix starts the KV key of every app config document.
const ConfigKeyPrefix = "app:"

// ConfigKey is the KV key the dispatcher reads for an app.
func ConfigKey(slug string) string { return ConfigKeyPrefix + slug }

// OwnerTag marks every script 402claw manages, so the reconciler can list ours in one call and
// leave anything else in the namespace alone.
const OwnerTag = "402claw"

// TenantTag, AppTag and PlanTag are the tags of an app's script naming its tenant, its slug and
// its tenant's plan (delete-by-tag and the reconciler filter on them).
func TenantTag(tenantID uint) string { return "tenant:" + strconv.FormatUint(uint64(tenantID), 10) }
func AppTag(slug string) string      { return "app:" + slug }
func PlanTag(key string) string      { return "plan:" + key }

// ShardTagPrefix starts the shard tag.
const ShardTagPrefix = "shard:"

// ShardTag is the shard:<2 hex> tag of a script name: the first byte of its SHA-256. When a
// listing of our scripts comes back as a full page without a cursor (so it may be cut), the
// reconciler lists shard by shard instead, 256 narrower listings of about 1/256 each.
func ShardTag(scriptName string) string {
	sum := sha256.Sum256([]byte(scriptName))
	return ShardTagPrefix + hex.EncodeToString(sum[:1])
}
