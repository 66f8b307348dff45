package tokenizer

// Stream decodes ids one at a time for printing generated text as it comes.
// The concatenation of everything Push and Flush return equals Decode of all
// the ids pushed; no returned string ends in the middle of a UTF-8 sequence.
// A Stream is not safe for concurrent use.
type Stream struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []byte // bytes of an incomplete UTF-8 sequence
	started     bool   // for decoders that join tokens with spaces
}

// NewStream starts a streaming decode; skipSpecial drops special tokens.
func (t *Tokenizer) NewStream(skipSpecial bool) *Stream {
	return &Stream{t: t, skipSpecial: skipSpecial}
}

// Push adds one id and returns the text it completes, possibly "" (a
// skipped special token, or a token that ends inside a multi-byte
// character). An id with no token renders as IDText(id), as in Decode.
func (s *Stream) Push(id int32) string {
	tok, ok := s.t.visible(id, s.skipSpecial)
	if !ok {
		return ""
	}
	if !s.t.byteLevel {
		if s.started {
			tok = " " + tok
		}
		s.started = true
		return tok
	}
	s.pending = appendTokenBytes(s.pending, tok)
	// Hold back a trailing prefix of a well-formed sequence: the next token
	// may complete it. Everything before it decodes the same whatever
	// follows, because the held part starts with a lead byte, which no
	// earlier invalid subpart can absorb.
	keep := incompleteTail(s.pending)
	out := lossyUTF8(s.pending[:len(s.pending)-keep])
	s.pending = append(s.pending[:0], s.pending[len(s.pending)-keep:]...)
	return out
}

// Flush returns whatever is held back (as U+FFFD, since it is incomplete)
// and resets the stream's pending bytes.
func (s *Stream) Flush() string {
	out := lossyUTF8(s.pending)
	s.pending = s.pending[:0]
	return out
}
