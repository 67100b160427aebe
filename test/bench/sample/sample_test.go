package sample

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make(Sample, 100)
	for i := range hundred {
		hundred[len(hundred)-1-i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name string
		s    Sample
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", Sample{7}, 99, 7},
		{"median of 100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 100", hundred, 100, 100 * time.Millisecond},
		{"p99 of 3 is the largest", Sample{3, 1, 2}, 99, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Percentile(tt.p); got != tt.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}
