package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Dist summarises a set of latencies.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

// Distribution sorts ds (in place) and returns its p50, p99 and max, each
// by nearest rank: the smallest sample with at least q of the samples at or
// below it.
func Distribution(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	slices.Sort(ds)
	return Dist{N: len(ds), P50: Quantile(ds, 0.50), P99: Quantile(ds, 0.99), Max: ds[len(ds)-1]}
}

// Quantile is the nearest-rank q-quantile of sorted samples (0 < q <= 1).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func (d Dist) String() string {
	if d.N == 0 {
		return "p50 n/a p99 n/a max n/a"
	}
	return fmt.Sprintf("p50 %s p99 %s max %s", ms(d.P50), ms(d.P99), ms(d.Max))
}

// ms formats a duration in milliseconds, with the precision that matters
// at its size.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return fmt.Sprintf("%.2fms", f)
	case f < 1000:
		return fmt.Sprintf("%.1fms", f)
	default:
		return fmt.Sprintf("%.0fms", f)
	}
}
