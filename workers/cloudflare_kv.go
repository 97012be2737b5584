package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v4/option"
)

// --- KV ---

// KVNamespaces returns every KV namespace of the account.
func (c *Cloudflare) KVNamespaces(ctx context.Context) ([]KVNamespace, error) {
	var all []KVNamespace
	for page := 1; ; page++ {
		var out []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		env, err := c.call(ctx, http.MethodGet, c.accountPath("storage/kv/namespaces"), &out,
			option.WithQuery("page", strconv.Itoa(page)), option.WithQuery("per_page", "100"))
		if err != nil {
			return nil, fmt.Errorf("cloudflare: unable to list kv namespaces: %w", err)
		}
		for _, ns := range out {
			all = append(all, KVNamespace{ID: ns.ID, Title: ns.Title})
		}
		if len(out) < 100 || (env.ResultInfo.TotalCount > 0 && len(all) >= env.ResultInfo.TotalCount) {
			return all, nil
		}
	}
}

// CreateKVNamespace creates a KV namespace titled title.
func (c *Cloudflare) CreateKVNamespace(ctx context.Context, title string) (KVNamespace, error) {
	body, err := jsonBody(map[string]string{"title": title})
	if err != nil {
		return KVNamespace{}, err
	}
	var out struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if _, err := c.call(ctx, http.MethodPost, c.accountPath("storage/kv/namespaces"), &out, body); err != nil {
		return KVNamespace{}, fmt.Errorf("cloudflare: unable to create kv namespace %q: %w", title, err)
	}
	return KVNamespace{ID: out.ID, Title: out.Title}, nil
}

// DeleteKVNamespace deletes a KV namespace and everything in it.
func (c *Cloudflare) DeleteKVNamespace(ctx context.Context, id string) error {
	if _, err := c.call(ctx, http.MethodDelete, c.accountPath("storage/kv/namespaces/%s", id), nil); err != nil {
		return fmt.Errorf("cloudflare: unable to delete kv namespace %s: %w", id, err)
	}
	return nil
}

// PutKV stores value under key as raw bytes.
func (c *Cloudflare) PutKV(ctx context.Context, nsID, key string, value []byte) error {
	path := c.accountPath("storage/kv/namespaces/%s/values/%s", nsID, key)
	if value == nil {
		value = []byte{}
	}
	if _, err := c.call(ctx, http.MethodPut, path, nil, option.WithRequestBody("application/octet-stream", value)); err != nil {
		return fmt.Errorf("cloudflare: unable to put kv key %q: %w", key, err)
	}
	return nil
}

// GetKV returns the raw value of key; a missing key is an error matching ErrNotFound.
func (c *Cloudflare) GetKV(ctx context.Context, nsID, key string) ([]byte, error) {
	path := c.accountPath("storage/kv/namespaces/%s/values/%s", nsID, key)
	value, err := c.raw(ctx, http.MethodGet, path)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: unable to get kv key %q: %w", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, nil
}

// DeleteKV deletes key; deleting a missing key succeeds, as on Cloudflare.
func (c *Cloudflare) DeleteKV(ctx context.Context, nsID, key string) error {
	path := c.accountPath("storage/kv/namespaces/%s/values/%s", nsID, key)
	if _, err := c.call(ctx, http.MethodDelete, path, nil); err != nil {
		return fmt.Errorf("cloudflare: unable to delete kv key %q: %w", key, err)
	}
	return nil
}

// KVBulkError names the keys a bulk write could not store, after retrying them.
type KVBulkError struct {
	Keys  []string
	Tries int
	Cause error // Cloudflare's error answer, when the last try was one
}

func (e *KVBulkError) Error() string {
	shown := e.Keys
	if len(shown) > 10 {
		shown = shown[:10]
	}
	msg := fmt.Sprintf("cloudflare: %d KV keys were not stored after %d tries: %s", len(e.Keys), e.Tries, strings.Join(shown, ", "))
	if len(e.Keys) > len(shown) {
		msg += fmt.Sprintf(" and %d more", len(e.Keys)-len(shown))
	}
	if e.Cause != nil {
		msg += " (" + e.Cause.Error() + ")"
	}
	return msg
}

func (e *KVBulkError) Unwrap() error { return e.Cause }

// kvBulkResult is the answer of a bulk write, on a 200 as well as on a 4xx.
type kvBulkResult struct {
	SuccessfulKeyCount int      `json:"successful_key_count"`
	UnsuccessfulKeys   []string `json:"unsuccessful_keys"`
}

// PutKVBulk writes pairs in calls of at most 10,000. Cloudflare may store only part of a call
// and name the rest in unsuccessful_keys (with a 200 too); those are retried with backoff, and
// keys still failing make the write fail with a *KVBulkError naming them. Calls are not atomic
// together: on error, the other keys are stored.
func (c *Cloudflare) PutKVBulk(ctx context.Context, nsID string, pairs []KVPair) error {
	path := c.accountPath("storage/kv/namespaces/%s/bulk", nsID)
	for start := 0; start < len(pairs); start += kvBulkLimit {
		pending := pairs[start:min(start+kvBulkLimit, len(pairs))]
		for try := 1; ; try++ {
			failed, err := c.putKVChunk(ctx, path, pending)
			if err != nil && len(failed) == 0 {
				return fmt.Errorf("cloudflare: unable to bulk write kv pairs %d-%d: %w", start, start+len(pending)-1, err)
			}
			if len(failed) == 0 {
				break
			}
			if err != nil || try > c.kvRetries {
				// A 4xx that stored nothing will not store anything on a retry.
				return &KVBulkError{Keys: failed, Tries: try, Cause: err}
			}
			retry := make(map[string]bool, len(failed))
			for _, k := range failed {
				retry[k] = true
			}
			var next []KVPair
			for _, p := range pending {
				if retry[p.Key] {
					next = append(next, p)
				}
			}
			pending = next
			t := time.NewTimer(c.kvRetryBackoff << (try - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return &KVBulkError{Keys: failed, Tries: try, Cause: ctx.Err()}
			case <-t.C:
			}
		}
	}
	return nil
}

// putKVChunk writes one call's pairs and returns the keys Cloudflare did not store. A 4xx whose
// answer names unsuccessful keys returns them with the error; err without keys is a plain
// failure of the call.
func (c *Cloudflare) putKVChunk(ctx context.Context, path string, pairs []KVPair) ([]string, error) {
	body, err := jsonBody(pairs)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: unable to encode kv bulk write: %w", err)
	}
	sent := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		sent[p.Key] = true
	}
	ours := func(keys []string) []string {
		// Only keys this call sent can be retried; anything else in the answer is noise.
		var out []string
		for _, k := range keys {
			if sent[k] {
				out = append(out, k)
				delete(sent, k)
			}
		}
		return out
	}
	var res kvBulkResult
	if _, err := c.call(ctx, http.MethodPut, path, &res, body); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			var env struct {
				Result *kvBulkResult `json:"result"`
			}
			if json.Unmarshal(ae.body, &env) == nil && env.Result != nil {
				failed := ours(env.Result.UnsuccessfulKeys)
				if len(failed) > 0 && env.Result.SuccessfulKeyCount > 0 {
					return failed, nil // partly stored: retry the rest
				}
				return failed, err
			}
		}
		return nil, err
	}
	return ours(res.UnsuccessfulKeys), nil
}

// DeleteKVBulk deletes keys in calls of at most 10,000.
func (c *Cloudflare) DeleteKVBulk(ctx context.Context, nsID string, keys []string) error {
	path := c.accountPath("storage/kv/namespaces/%s/bulk/delete", nsID)
	for start := 0; start < len(keys); start += kvBulkLimit {
		chunk := keys[start:min(start+kvBulkLimit, len(keys))]
		body, err := jsonBody(chunk)
		if err != nil {
			return err
		}
		if _, err := c.call(ctx, http.MethodPost, path, nil, body); err != nil {
			return fmt.Errorf("cloudflare: unable to bulk delete kv keys %d-%d: %w", start, start+len(chunk)-1, err)
		}
	}
	return nil
}

// KVKeys lists every key starting with prefix, following the cursor to the end.
func (c *Cloudflare) KVKeys(ctx context.Context, nsID, prefix string) ([]string, error) {
	path := c.accountPath("storage/kv/namespaces/%s/keys", nsID)
	var keys []string
	cursor := ""
	for {
		opts := []option.RequestOption{option.WithQuery("limit", "1000")}
		if prefix != "" {
			opts = append(opts, option.WithQuery("prefix", prefix))
		}
		if cursor != "" {
			opts = append(opts, option.WithQuery("cursor", cursor))
		}
		var page []struct {
			Name string `json:"name"`
		}
		env, err := c.call(ctx, http.MethodGet, path, &page, opts...)
		if err != nil {
			return nil, fmt.Errorf("cloudflare: unable to list kv keys: %w", err)
		}
		for _, k := range page {
			keys = append(keys, k.Name)
		}
		if env.cursor() == "" || env.cursor() == cursor || len(page) == 0 {
			return keys, nil
		}
		cursor = env.cursor()
	}
}
