package cuda

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestKernelArgPacking(t *testing.T) {
	var s segment
	s.reset()
	s.blob = append(s.blob, 1, 2, 3) // a previous launch left the blob unaligned
	k := s.launch(7, dim3{2, 1, 1}, dim3{128, 1, 1}, 64)
	k.i32(5).ptr(0x1122334455667788).f32(1.5).start(42).i64(-3).f64(0.25)
	k.done()
	o := s.ops[0]
	if o.argsOff%8 != 0 || o.argsOff != 8 {
		t.Fatalf("args start at %d, want 8 (8-aligned after 3 bytes)", o.argsOff)
	}
	// int, pointer (aligned to 8), float, int start, pointer start_ptr, long, double
	want := []uint32{0, 8, 16, 20, 24, 32, 40}
	if o.argc != uint32(len(want)) {
		t.Fatalf("argc %d, want %d", o.argc, len(want))
	}
	for j, w := range want {
		if got := s.offs[o.offsOff+uint32(j)]; got != w {
			t.Errorf("arg %d at offset %d, want %d", j, got, w)
		}
	}
	arg := func(j int) []byte { return s.blob[o.argsOff+s.offs[o.offsOff+uint32(j)]:] }
	if v := int32(binary.LittleEndian.Uint32(arg(0))); v != 5 {
		t.Errorf("int arg %d", v)
	}
	if v := binary.LittleEndian.Uint64(arg(1)); v != 0x1122334455667788 {
		t.Errorf("pointer arg %#x", v)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(arg(2))); v != 1.5 {
		t.Errorf("float arg %v", v)
	}
	if v := int32(binary.LittleEndian.Uint32(arg(3))); v != 42 {
		t.Errorf("start %d", v)
	}
	if v := binary.LittleEndian.Uint64(arg(4)); v != 0 {
		t.Errorf("plain launch start_ptr %#x, want null", v)
	}
	if v := int64(binary.LittleEndian.Uint64(arg(5))); v != -3 {
		t.Errorf("long arg %d", v)
	}
	if v := math.Float64frombits(binary.LittleEndian.Uint64(arg(6))); v != 0.25 {
		t.Errorf("double arg %v", v)
	}

	// A graph reads the position from slot 0 of the params buffer.
	cb := s.captureBlob(0x1000)
	if v := binary.LittleEndian.Uint32(cb[o.argsOff+24-4:]); v != 0 {
		t.Errorf("captured start %d, want 0", v)
	}
	if v := binary.LittleEndian.Uint64(cb[o.argsOff+24:]); v != 0x1000 {
		t.Errorf("captured start_ptr %#x, want the params buffer", v)
	}
	if got := s.dynValues(); len(got) != 1 || got[0] != 42 {
		t.Errorf("dynValues %v", got)
	}
	if s.blob[o.argsOff+20] != 42 {
		t.Error("captureBlob changed the plain arguments")
	}
}

func TestSegmentReset(t *testing.T) {
	var s segment
	s.reset()
	if !s.capturable || !s.empty() {
		t.Fatal("a fresh segment is empty and capturable")
	}
	k := s.launch(1, dim3{1, 1, 1}, dim3{32, 1, 1}, 0)
	k.start(3).done()
	s.capturable, s.bucket = false, 512
	s.reset()
	if !s.empty() || len(s.dyn) != 0 || len(s.blob) != 0 || !s.capturable || s.bucket != 0 {
		t.Errorf("reset left %+v", s)
	}
}
