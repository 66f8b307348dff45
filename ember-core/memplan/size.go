package memplan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Byte units.
const (
	// KiB is 1024 bytes.
	KiB int64 = 1 << 10
	// MiB is 1024 KiB.
	MiB int64 = 1 << 20
	// GiB is 1024 MiB.
	GiB int64 = 1 << 30
)

var units = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"bytes", 1}, {"byte", 1},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// ParseSize reads a byte size: a number (decimals allowed) followed by an optional
// unit — KiB, MiB, GiB, TiB (powers of 1024; also Ki, Mi, Gi, Ti), KB, MB, GB, TB
// (powers of 1000), B or bytes — case-insensitively, with optional space: "12GiB",
// "11.5 GiB", "300MiB", "12e9", "4096". A bare K, M or G is refused as ambiguous.
// The result is rounded down to whole bytes.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	if t != "" && strings.ContainsAny(t[len(t)-1:], "kmgt") {
		return 0, fmt.Errorf("size %q: unit %q is ambiguous, write %siB (1024-based) or %sB (1000-based)", s, t[len(t)-1:], strings.ToUpper(t[len(t)-1:]), strings.ToUpper(t[len(t)-1:]))
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("size %q: want a number with an optional unit such as 12GiB, 300MiB or 12GB", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	b := v * mult
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(b), nil
}

// ParseSizes reads a comma-separated list of sizes ("12GiB,10GiB").
func ParseSizes(s string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(s, ",") {
		v, err := ParseSize(part)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// GiBOf returns b in GiB.
func GiBOf(b int64) float64 { return float64(b) / float64(GiB) }

// MiBOf returns b in MiB.
func MiBOf(b int64) float64 { return float64(b) / float64(MiB) }

// FormatSize renders b with two decimals in the largest binary unit that keeps the
// number at least 1: "12.00 GiB", "448.00 MiB", "5.00 KiB", "12 B".
func FormatSize(b int64) string {
	neg := ""
	if b < 0 {
		neg, b = "-", -b
	}
	switch {
	case b >= GiB:
		return fmt.Sprintf("%s%.2f GiB", neg, GiBOf(b))
	case b >= MiB:
		return fmt.Sprintf("%s%.2f MiB", neg, MiBOf(b))
	case b >= KiB:
		return fmt.Sprintf("%s%.2f KiB", neg, float64(b)/float64(KiB))
	}
	return fmt.Sprintf("%s%d B", neg, b)
}
