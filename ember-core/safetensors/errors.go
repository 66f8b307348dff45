package safetensors

import (
	"errors"
	"fmt"
)

// ErrFormat is wrapped by every error that reports a malformed file, header or
// index: truncation, bad JSON, bad offsets, size mismatches and so on.
var ErrFormat = errors.New("safetensors: malformed file")

// ErrNotFound is wrapped by errors for a tensor name that is not present.
var ErrNotFound = errors.New("safetensors: tensor not found")

// ErrDType is wrapped by errors for a dtype that is unknown, or known but not
// convertible to float32.
var ErrDType = errors.New("safetensors: unsupported dtype")

// kindError is a one-sentence error that matches one or more sentinels with
// errors.Is without repeating their text in its own message.
type kindError struct {
	msg   string
	kinds []error
	cause error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return e.kinds
	}
	return append(append([]error(nil), e.kinds...), e.cause)
}

// newError formats a message and tags it with kind. A %w verb in format still
// wraps its operand, so the cause stays reachable through errors.Is/As.
func newError(kind error, format string, args ...any) error {
	return newErrorKinds([]error{kind}, format, args...)
}

func newErrorKinds(kinds []error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &kindError{msg: err.Error(), kinds: kinds, cause: errors.Unwrap(err)}
}

// formatErrorf is newError(ErrFormat, ...).
func formatErrorf(format string, args ...any) error {
	return newError(ErrFormat, format, args...)
}
