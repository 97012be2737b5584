package models

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A small JSON Schema 2020-12 checker for the discovery schemas tenants write: CheckJSONSchema
// refuses what is not a valid schema (with the JSON pointer of the fault) and references that
// leave the document; ValidateAgainst checks the route's own example with the common keywords.
// Values come from a decoder with UseNumber, so numbers are json.Number.

var schemaTypes = map[string]bool{"null": true, "boolean": true, "object": true, "array": true, "number": true, "string": true, "integer": true}

// Keywords whose value is one schema, a list of schemas, or a map of schemas.
var (
	kwSchema    = []string{"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "additionalItems"}
	kwSchemaArr = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	kwSchemaMap = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
	kwNonNeg    = []string{"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains"}
	kwNumber    = []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)

func ptrJoin(ptr, tok string) string {
	return ptr + "/" + strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func ptrShow(ptr string) string {
	if ptr == "" {
		return "the top level"
	}
	return ptr
}

// CheckJSONSchema reports the first fault of schema s as "at <pointer>: <what>".
func CheckJSONSchema(s any) error {
	if _, ok := s.(map[string]any); !ok {
		return fmt.Errorf("at the top level: a schema here must be a JSON object")
	}
	return checkSchema(s, "")
}

func checkSchema(s any, ptr string) error {
	if _, ok := s.(bool); ok {
		return nil
	}
	m, ok := s.(map[string]any)
	if !ok {
		return fmt.Errorf("at %s: a schema must be an object or true/false", ptrShow(ptr))
	}
	bad := func(kw, what string) error { return fmt.Errorf("at %s: %s", ptrJoin(ptr, kw), what) }
	if v, ok := m["$schema"]; ok {
		str, _ := v.(string)
		if strings.TrimSuffix(str, "#") != "https://json-schema.org/draft/2020-12/schema" {
			return bad("$schema", "only JSON Schema 2020-12 (https://json-schema.org/draft/2020-12/schema) is accepted")
		}
	}
	for _, kw := range []string{"$ref", "$dynamicRef", "$recursiveRef"} {
		if v, ok := m[kw]; ok {
			str, _ := v.(string)
			if !strings.HasPrefix(str, "#") {
				return bad(kw, "only references inside this schema (starting with #) are allowed, not remote URLs")
			}
		}
	}
	if v, ok := m["$id"]; ok {
		if str, _ := v.(string); str != "" && !strings.HasPrefix(str, "#") {
			return bad("$id", "a schema id would let references leave this document; remove it")
		}
	}
	if v, ok := m["type"]; ok {
		switch t := v.(type) {
		case string:
			if !schemaTypes[t] {
				return bad("type", fmt.Sprintf("%q is not a JSON Schema type", t))
			}
		case []any:
			if len(t) == 0 {
				return bad("type", "the list of types is empty")
			}
			for i, e := range t {
				if str, _ := e.(string); !schemaTypes[str] {
					return fmt.Errorf("at %s: not a JSON Schema type", ptrJoin(ptrJoin(ptr, "type"), strconv.Itoa(i)))
				}
			}
		default:
			return bad("type", "must be a type name or a list of them")
		}
	}
	if v, ok := m["required"]; ok {
		arr, ok := v.([]any)
		if !ok {
			return bad("required", "must be a list of property names")
		}
		for i, e := range arr {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("at %s: must be a property name", ptrJoin(ptrJoin(ptr, "required"), strconv.Itoa(i)))
			}
		}
	}
	if v, ok := m["enum"]; ok {
		if _, ok := v.([]any); !ok {
			return bad("enum", "must be a list of values")
		}
	}
	if v, ok := m["pattern"]; ok {
		str, ok := v.(string)
		if !ok {
			return bad("pattern", "must be a regular expression string")
		}
		if _, err := regexp.Compile(str); err != nil {
			return bad("pattern", "not a valid regular expression: "+err.Error())
		}
	}
	for _, kw := range kwNonNeg {
		if v, ok := m[kw]; ok {
			n, ok := v.(json.Number)
			if i, err := n.Int64(); !ok || err != nil || i < 0 {
				return bad(kw, "must be a whole number of zero or more")
			}
		}
	}
	for _, kw := range kwNumber {
		if v, ok := m[kw]; ok {
			n, ok := v.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil || (kw == "multipleOf" && f <= 0) {
				return bad(kw, "must be a number")
			}
		}
	}
	for _, kw := range kwSchema {
		if v, ok := m[kw]; ok {
			if err := checkSchema(v, ptrJoin(ptr, kw)); err != nil {
				return err
			}
		}
	}
	for _, kw := range kwSchemaArr {
		if v, ok := m[kw]; ok {
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 {
				return bad(kw, "must be a non-empty list of schemas")
			}
			for i, e := range arr {
				if err := checkSchema(e, ptrJoin(ptrJoin(ptr, kw), strconv.Itoa(i))); err != nil {
					return err
				}
			}
		}
	}
	for _, kw := range kwSchemaMap {
		if v, ok := m[kw]; ok {
			mm, ok := v.(map[string]any)
			if !ok {
				return bad(kw, "must be an object of schemas")
			}
			for _, k := range sortedKeys(mm) {
				if err := checkSchema(mm[k], ptrJoin(ptrJoin(ptr, kw), k)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ValidateAgainst checks value v with schema s (already accepted by CheckJSONSchema), for the
// keywords type, enum, const, properties, required, additionalProperties, items, prefixItems,
// the length and range bounds, pattern, allOf/anyOf/oneOf/not and local $ref. Others are ignored.
func ValidateAgainst(s, v any) error { return validate(s, s, v, "", 0) }

func validate(root, s, v any, at string, depth int) error {
	if depth > 64 {
		return fmt.Errorf("the schema nests references too deeply")
	}
	if b, ok := s.(bool); ok {
		if !b {
			return fmt.Errorf("at %s: no value is allowed here", ptrShow(at))
		}
		return nil
	}
	m, _ := s.(map[string]any)
	fail := func(format string, a ...any) error {
		return fmt.Errorf("at %s: %s", ptrShow(at), fmt.Sprintf(format, a...))
	}
	if ref, ok := m["$ref"].(string); ok {
		target, err := resolveLocal(root, ref)
		if err != nil {
			return err
		}
		if err := validate(root, target, v, at, depth+1); err != nil {
			return err
		}
	}
	if t, ok := m["type"]; ok {
		var names []string
		switch tt := t.(type) {
		case string:
			names = []string{tt}
		case []any:
			for _, e := range tt {
				names = append(names, e.(string))
			}
		}
		okType := false
		for _, n := range names {
			if hasType(v, n) {
				okType = true
			}
		}
		if !okType {
			return fail("expected %s", strings.Join(names, " or "))
		}
	}
	if e, ok := m["enum"].([]any); ok {
		found := false
		for _, x := range e {
			if jsonEqual(x, v) {
				found = true
			}
		}
		if !found {
			return fail("not one of the allowed values")
		}
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, v) {
		return fail("must equal %s", marshalOrEmpty(c))
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := m["properties"].(map[string]any)
		if req, ok := m["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					return fail("property %q is required", r)
				}
			}
		}
		for _, k := range sortedKeys(x) {
			if ps, ok := props[k]; ok {
				if err := validate(root, ps, x[k], ptrJoin(at, k), depth); err != nil {
					return err
				}
			} else if ap, ok := m["additionalProperties"]; ok {
				if err := validate(root, ap, x[k], ptrJoin(at, k), depth); err != nil {
					return err
				}
			}
		}
	case []any:
		prefix, _ := m["prefixItems"].([]any)
		for i, e := range x {
			if i < len(prefix) {
				if err := validate(root, prefix[i], e, ptrJoin(at, strconv.Itoa(i)), depth); err != nil {
					return err
				}
			} else if it, ok := m["items"]; ok {
				if err := validate(root, it, e, ptrJoin(at, strconv.Itoa(i)), depth); err != nil {
					return err
				}
			}
		}
		if n, ok := intKw(m, "minItems"); ok && int64(len(x)) < n {
			return fail("at least %d items", n)
		}
		if n, ok := intKw(m, "maxItems"); ok && int64(len(x)) > n {
			return fail("at most %d items", n)
		}
	case string:
		l := int64(len([]rune(x)))
		if n, ok := intKw(m, "minLength"); ok && l < n {
			return fail("at least %d characters", n)
		}
		if n, ok := intKw(m, "maxLength"); ok && l > n {
			return fail("at most %d characters", n)
		}
		if p, ok := m["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err == nil && !re.MatchString(x) {
				return fail("does not match the pattern %s", p)
			}
		}
	case json.Number:
		f, _ := new(big.Float).SetString(x.String())
		cmp := func(kw string) (int, bool) {
			n, ok := m[kw].(json.Number)
			if !ok || f == nil {
				return 0, false
			}
			g, _ := new(big.Float).SetString(n.String())
			if g == nil {
				return 0, false
			}
			return f.Cmp(g), true
		}
		if c, ok := cmp("minimum"); ok && c < 0 {
			return fail("below the minimum %s", m["minimum"])
		}
		if c, ok := cmp("maximum"); ok && c > 0 {
			return fail("above the maximum %s", m["maximum"])
		}
		if c, ok := cmp("exclusiveMinimum"); ok && c <= 0 {
			return fail("must be above %s", m["exclusiveMinimum"])
		}
		if c, ok := cmp("exclusiveMaximum"); ok && c >= 0 {
			return fail("must be below %s", m["exclusiveMaximum"])
		}
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, sub := range all {
			if err := validate(root, sub, v, at, depth+1); err != nil {
				return err
			}
		}
	}
	if anyOf, ok := m["anyOf"].([]any); ok {
		okAny := false
		for _, sub := range anyOf {
			if validate(root, sub, v, at, depth+1) == nil {
				okAny = true
				break
			}
		}
		if !okAny {
			return fail("matches none of anyOf")
		}
	}
	if oneOf, ok := m["oneOf"].([]any); ok {
		n := 0
		for _, sub := range oneOf {
			if validate(root, sub, v, at, depth+1) == nil {
				n++
			}
		}
		if n != 1 {
			return fail("must match exactly one of oneOf (matches %d)", n)
		}
	}
	if not, ok := m["not"]; ok && validate(root, not, v, at, depth+1) == nil {
		return fail("must not match the schema under not")
	}
	return nil
}

func intKw(m map[string]any, kw string) (int64, bool) {
	n, ok := m[kw].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func hasType(v any, name string) bool {
	switch name {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, _ := new(big.Float).SetString(n.String())
		return f != nil && f.IsInt()
	}
	return false
}

func jsonEqual(a, b any) bool {
	if na, ok := a.(json.Number); ok {
		nb, ok := b.(json.Number)
		if !ok {
			return false
		}
		fa, _ := new(big.Float).SetString(na.String())
		fb, _ := new(big.Float).SetString(nb.String())
		return fa != nil && fb != nil && fa.Cmp(fb) == 0
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// resolveLocal follows a "#/a/b" pointer inside root.
func resolveLocal(root any, ref string) (any, error) {
	p := strings.TrimPrefix(ref, "#")
	cur := root
	if p == "" {
		return cur, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("the reference %s points nowhere in the schema", ref)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("the reference %s points nowhere in the schema", ref)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("the reference %s points nowhere in the schema", ref)
		}
	}
	return cur, nil
}
