package memplan

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"12GiB", 12 << 30}, {"12 gib", 12 << 30}, {"12Gi", 12 << 30}, {"11.5GiB", 23 << 29},
		{"300MiB", 300 << 20}, {"4KiB", 4096}, {"1TiB", 1 << 40},
		{"12GB", 12e9}, {"300MB", 300e6}, {"4KB", 4000}, {"12e9", 12e9},
		{"4096", 4096}, {"4096B", 4096}, {"4096 bytes", 4096}, {"0", 0},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "12G", "12M", "GiB", "twelve", "-1GiB", "12XB", "NaN", "1e300GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
	got, err := ParseSizes("12GiB,10GiB")
	if err != nil || len(got) != 2 || got[1] != 10<<30 {
		t.Errorf("ParseSizes: %v %v", got, err)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"12GiB", "11.5 GB", "4096", "1e3kb", "-1", "12G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err == nil && v < 0 {
			t.Errorf("%q: negative %d", s, v)
		}
	})
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{12 << 30, "12.00 GiB"}, {448 << 20, "448.00 MiB"}, {5 << 10, "5.00 KiB"}, {12, "12 B"}, {-(3 << 29), "-1.50 GiB"},
	} {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.in, got, tc.want)
		}
	}
}
