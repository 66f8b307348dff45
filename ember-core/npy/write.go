package npy

import (
	"fmt"
	"io"

	"github.com/ember-infer/ember/ember-core/atomicfile"
)

// chunkElems is how many elements are encoded per write: 256 KiB at a time, so a
// large dump never needs a second copy of itself in memory.
const chunkElems = 64 << 10

// WriteFloat32 writes data as a '<f4' array of the given shape to path. Omitting
// shape writes one dimension of len(data); an explicitly empty shape
// (shape = []int{}) writes a 0-d array of one value. The write is atomic: the file is
// written under a temporary name in the same directory, synced, then renamed over
// path, so a reader never sees half a file.
func WriteFloat32(path string, data []float32, shape ...int) error {
	return writeFile(path, data, shape)
}

// WriteInt32 writes data as an '<i4' array of the given shape (one dimension of
// len(data) when shape is omitted) to path, atomically like WriteFloat32.
func WriteInt32(path string, data []int32, shape ...int) error {
	return writeFile(path, data, shape)
}

func writeFile[T element](path string, data []T, shape []int) (err error) {
	if shape == nil {
		shape = []int{len(data)}
	}
	if n, ok := count(shape); !ok || n != len(data) {
		return newError(ErrShape, "npy: write %s: shape %s does not hold the %d values given", path, shapeString(shape), len(data))
	}
	var fillErr error
	err = atomicfile.WriteWith(path, func(w io.Writer) error {
		fillErr = encode(w, data, shape)
		return fillErr
	})
	if fillErr != nil {
		return fmt.Errorf("npy: write %s: %w", path, fillErr)
	}
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// encode writes the header and the data; shape must already match data.
func encode[T element](w io.Writer, data []T, shape []int) error {
	h, err := header(descr[T](), shape)
	if err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 4*min(len(data), chunkElems))
	for len(data) > 0 {
		n := min(len(data), chunkElems)
		putAll(buf, data[:n])
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
