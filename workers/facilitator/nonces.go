package facilitator

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// nonceStore remembers every consumed (network, asset, payer, nonce). EIP-3009
// nonces are single-use per token contract and payer, and the nonce is the
// protocol's only replay protection, so a consumed nonce is on disk (fsynced)
// before settle answers success.
//
// The file is an append-only list of keys, one a line. One process owns it:
// two facilitators sharing a file would each trust their own memory.
type nonceStore struct {
	mu   sync.Mutex
	used map[string]struct{}
	f    *os.File // nil: memory only
}

func openNonceStore(path string) (*nonceStore, error) {
	s := &nonceStore{used: make(map[string]struct{})}
	if path == "" {
		return s, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("facilitator: unable to open nonce store: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("facilitator: unable to read nonce store %s: %w", path, err)
	}
	// A line without its newline is a write that crashed before its fsync:
	// settle never answered success for it, so it is dropped, and the next
	// key must not be glued onto it.
	if i := bytes.LastIndexByte(data, '\n'); i != len(data)-1 {
		data = data[:i+1]
		if err := f.Truncate(int64(len(data))); err != nil {
			f.Close()
			return nil, fmt.Errorf("facilitator: unable to repair nonce store %s: %w", path, err)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			s.used[line] = struct{}{}
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("facilitator: unable to open nonce store %s for appending: %w", path, err)
	}
	s.f = f
	return s, nil
}

func (s *nonceStore) isUsed(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.used[key]
	return ok
}

// consume marks key used and reports whether this call did it: of several
// concurrent settles of one payment exactly one gets true.
func (s *nonceStore) consume(key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.used[key]; ok {
		return false, nil
	}
	if s.f != nil {
		if _, err := s.f.WriteString(key + "\n"); err != nil {
			return false, fmt.Errorf("facilitator: unable to record nonce: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return false, fmt.Errorf("facilitator: unable to sync nonce store: %w", err)
		}
	}
	s.used[key] = struct{}{}
	return true, nil
}

func (s *nonceStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
