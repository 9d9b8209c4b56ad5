package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// series is one contender's measurements.
type series struct {
	name string
	d    []time.Duration
}

// summary is what the tables print of a series.
type summary struct {
	n                     int
	min, med, p95, maxVal time.Duration
}

// summarize computes min, median, p95 (nearest rank) and max.
func summarize(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	rank := int(math.Ceil(0.95*float64(len(s)))) - 1
	return summary{n: len(s), min: s[0], med: med, p95: s[max(rank, 0)], maxVal: s[len(s)-1]}
}

// ms formats a duration in milliseconds, two decimals below 100 ms.
func ms(d time.Duration) string {
	v := float64(d.Microseconds()) / 1000
	if v >= 100 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// ratio is a/b of two medians, as "3.4x".
func ratio(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fx", float64(a)/float64(b))
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// medianInt is the median of byte counts.
func medianInt(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
