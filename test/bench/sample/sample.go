// Package sample holds the benchmark programs' measured durations and the
// statistics their tables print.
package sample

import (
	"math"
	"slices"
	"time"
)

// Sample is a set of measured durations.
type Sample []time.Duration

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100).
func (s Sample) Percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// Max returns the largest duration.
func (s Sample) Max() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return slices.Max(s)
}
