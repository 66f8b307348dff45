package main

import (
	"testing"

	"github.com/ember-infer/ember/ember-core/engine"
)

// FuzzListParsers: the CLI's list flags (--split, --splits, --devices,
// --prompt-lens) return values or one error for any text, never a panic, and
// what they accept holds no negative number.
func FuzzListParsers(f *testing.F) {
	for _, s := range []string{"18,18", "12,24;18,18", "cpu:0,cpu:1", "0,1", "cpu:99", "cpu:0,1", ",,", ";", "-1,5", "9223372036854775808", "1+2", " 3 , 4 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sp, err := engine.ParseSplit(s); err == nil {
			for _, n := range sp {
				if n < 0 {
					t.Fatalf("--split %q gave %v", s, sp)
				}
			}
		}
		if sps, err := parseSplits(s, 36); err == nil {
			if len(sps) == 0 {
				t.Fatalf("--splits %q gave no split and no error", s)
			}
			for _, sp := range sps {
				if len(sp) != 2 || sp[0] < 1 || sp[1] < 1 || sp[0]+sp[1] != 36 {
					t.Fatalf("--splits %q for 36 layers gave %v", s, sp)
				}
			}
		}
		engine.ParseDevices(s)
		if ns, err := parseInts("prompt-lens", s); err == nil {
			for _, n := range ns {
				if n < 0 {
					t.Fatalf("--prompt-lens %q gave %v", s, ns)
				}
			}
		}
	})
}
