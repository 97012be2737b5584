package models

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
)

// LatencySketch is a fixed histogram of request durations: 72 buckets whose bounds grow by 20%
// from 0.5 ms (the first bucket holds everything faster, the last everything over about 174 s).
// Two sketches merge by adding their counts, so hourly rollups add up to days exactly; a
// percentile read from it is the geometric middle of its bucket, within 10% of the true value
// for any duration from 0.5 ms to 174 s.
type LatencySketch [latencyBuckets]uint32

const (
	latencyBuckets = 72
	latencyFirstMs = 0.5
	latencyGrowth  = 1.2
)

// latencyBound is the upper bound of bucket i in milliseconds.
func latencyBound(i int) float64 {
	return latencyFirstMs * math.Pow(latencyGrowth, float64(i))
}

// Add counts one duration (milliseconds; negative counts as 0).
func (s *LatencySketch) Add(ms float64) { s.AddN(ms, 1) }

// AddN counts n requests of one duration (Analytics Engine's sampled rows stand for several).
func (s *LatencySketch) AddN(ms float64, n uint32) {
	i := 0
	if ms > latencyFirstMs {
		i = int(math.Ceil(math.Log(ms/latencyFirstMs) / math.Log(latencyGrowth)))
		// Floating point may put a value equal to a bound one bucket too high.
		if i > 0 && ms <= latencyBound(i-1) {
			i--
		}
		i = min(i, latencyBuckets-1)
	}
	s[i] += n
}

// Merge adds o's counts to s.
func (s *LatencySketch) Merge(o *LatencySketch) {
	for i := range s {
		s[i] += o[i]
	}
}

// Count is how many durations s holds.
func (s *LatencySketch) Count() uint64 {
	var n uint64
	for _, c := range s {
		n += uint64(c)
	}
	return n
}

// Quantile returns the duration (ms) below which a share q (0–1) of the requests fall: the
// geometric middle of the bucket holding that rank; 0 for an empty sketch.
func (s *LatencySketch) Quantile(q float64) float64 {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s {
		seen += uint64(c)
		if seen >= rank {
			if i == 0 {
				return latencyFirstMs / math.Sqrt(latencyGrowth)
			}
			return latencyBound(i-1) * math.Sqrt(latencyGrowth)
		}
	}
	return latencyBound(latencyBuckets - 1)
}

// MarshalText stores s compactly: 72 little-endian uint32, base64 (about 384 characters).
func (s LatencySketch) MarshalText() ([]byte, error) {
	raw := make([]byte, 4*latencyBuckets)
	for i, c := range s {
		binary.LittleEndian.PutUint32(raw[4*i:], c)
	}
	return []byte(base64.RawStdEncoding.EncodeToString(raw)), nil
}

// UnmarshalText reads what MarshalText wrote; an empty text is an empty sketch.
func (s *LatencySketch) UnmarshalText(b []byte) error {
	*s = LatencySketch{}
	if len(b) == 0 {
		return nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(string(b))
	if err != nil || len(raw) != 4*latencyBuckets {
		return errors.New("models: latency sketch is damaged")
	}
	for i := range s {
		s[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return nil
}
