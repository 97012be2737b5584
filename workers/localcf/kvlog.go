package localcf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// A KV namespace is stored as an append-only log of records. A record is one JSON header line
// followed by the raw values it announces:
//
//	{"put":[{"key":"a","len":3},{"key":"b","len":5,"metadata":{…},"expiration":…}]}\n<3 bytes><5 bytes>
//	{"del":["a","c"]}\n
//
// A whole bulk write is one record and one write(2), so it is applied entirely or, when the
// process dies mid-write, not at all: loading stops at the first incomplete record and cuts the
// file there. When the log has grown well past its live data it is rewritten as a single record
// into a temporary file that replaces it by rename.

type logHeader struct {
	Put []logPut `json:"put,omitempty"`
	Del []string `json:"del,omitempty"`
}

type logPut struct {
	Key        string          `json:"key"`
	Len        int             `json:"len"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Expiration int64           `json:"expiration,omitempty"`
}

const compactMinBytes = 4 << 20

func entryCost(e *kvEntry) int64 { return int64(len(e.Key) + len(e.value) + len(e.Metadata) + 48) }

func encodePutRecord(entries []*kvEntry) ([]byte, error) {
	h := logHeader{Put: make([]logPut, len(entries))}
	size := 0
	for i, e := range entries {
		h.Put[i] = logPut{Key: e.Key, Len: len(e.value), Metadata: e.Metadata, Expiration: e.Expiration}
		size += len(e.value)
	}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, len(header)+1+size)
	buf = append(buf, header...)
	buf = append(buf, '\n')
	for _, e := range entries {
		buf = append(buf, e.value...)
	}
	return buf, nil
}

// replayKVLog applies the complete records of data to ns and returns how many bytes they span.
func replayKVLog(ns *kvNamespace, data []byte) int64 {
	off := 0
	for off < len(data) {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			break
		}
		var h logHeader
		if err := json.Unmarshal(data[off:off+nl], &h); err != nil {
			break
		}
		body := off + nl + 1
		need := 0
		for _, p := range h.Put {
			need += p.Len
		}
		if p := slices.IndexFunc(h.Put, func(p logPut) bool { return p.Len < 0 }); p >= 0 || body+need > len(data) {
			break
		}
		for _, p := range h.Put {
			// Copy: the values outlive the file buffer only by accident otherwise.
			v := bytes.Clone(data[body : body+p.Len])
			body += p.Len
			ns.entries[p.Key] = &kvEntry{Key: p.Key, Metadata: p.Metadata, Expiration: p.Expiration, value: v}
		}
		for _, k := range h.Del {
			delete(ns.entries, k)
		}
		off = body
	}
	return int64(off)
}

func (s *Server) openKVLog(ns *kvNamespace) error {
	path := s.kvLogPath(ns.ID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("localcf: unable to create kv directory: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localcf: unable to read kv namespace %s: %w", ns.ID, err)
	}
	good := replayKVLog(ns, data)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("localcf: unable to open kv namespace %s: %w", ns.ID, err)
	}
	if good < int64(len(data)) {
		// A torn record from a crash: drop it, it was never acknowledged.
		if err := f.Truncate(good); err != nil {
			f.Close()
			return fmt.Errorf("localcf: unable to repair kv namespace %s: %w", ns.ID, err)
		}
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		return fmt.Errorf("localcf: unable to open kv namespace %s: %w", ns.ID, err)
	}
	ns.log, ns.logSize, ns.liveBytes = f, good, 0
	for _, e := range ns.entries {
		ns.liveBytes += entryCost(e)
	}
	return nil
}

// appendKV writes one record; on failure the log is cut back so no partial record remains.
func (s *Server) appendKV(ns *kvNamespace, record []byte) error {
	if ns.log == nil {
		if err := s.openKVLog(ns); err != nil {
			return err
		}
	}
	n, err := ns.log.Write(record)
	if err == nil && s.opts.Fsync {
		err = ns.log.Sync()
	}
	if err != nil {
		if n > 0 {
			ns.log.Truncate(ns.logSize)
			ns.log.Seek(ns.logSize, 0)
		}
		return fmt.Errorf("localcf: unable to write kv namespace %s: %w", ns.ID, err)
	}
	ns.logSize += int64(n)
	return nil
}

// maybeCompact rewrites the log when most of it is dead. A failure leaves the old log in use.
func (s *Server) maybeCompact(ns *kvNamespace) {
	if ns.logSize < compactMinBytes || ns.logSize < 3*ns.liveBytes {
		return
	}
	live := make([]*kvEntry, 0, len(ns.entries))
	now := s.opts.Now()
	for _, k := range ns.keys() {
		if e := ns.entries[k]; !e.expired(now) {
			live = append(live, e)
		}
	}
	record, err := encodePutRecord(live)
	if err != nil {
		return
	}
	path := s.kvLogPath(ns.ID)
	if err := s.writeAtomic(path, record); err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	if _, err := f.Seek(0, 2); err != nil {
		f.Close()
		return
	}
	ns.log.Close()
	ns.log, ns.logSize, ns.liveBytes = f, int64(len(record)), 0
	for _, e := range live {
		ns.liveBytes += entryCost(e)
	}
}

func (s *Server) closeKVLog(ns *kvNamespace) {
	if ns.log != nil {
		ns.log.Close()
		ns.log = nil
	}
}

// Close releases the open KV logs. The Server must not be used afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ns := range s.kv {
		s.closeKVLog(ns)
	}
	return nil
}
