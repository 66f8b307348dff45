// Package tokenizer implements the byte-level BPE tokenizers of Qwen2, Qwen2.5
// and Qwen3 from their Hugging Face tokenizer.json, producing the same token
// ids as the `tokenizers` library: added tokens are cut out of the raw text
// first, each remaining piece is NFC-normalized, split by the Qwen2 regex,
// mapped to the byte-level alphabet and merged by rank.
//
// It also decodes (with U+FFFD for invalid UTF-8, like HF), decodes a token
// stream incrementally, renders the Qwen3 chat template, and trains small
// byte-level BPE tokenizers for synthetic test models.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// ErrUnsupported marks a tokenizer.json that uses a component or option this
// package does not implement; the error text names the field.
var ErrUnsupported = errors.New("unsupported")

// Tokenizer is a loaded tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	name        string
	normalizers []norm.Form
	pre         []preTokenizer
	model       *bpe
	byteLevel   bool // ByteLevel decoder (else tokens are joined with spaces)

	added       []*AddedToken // by id
	addedByID   map[int32]*AddedToken
	addedByText map[string]*AddedToken
	specialText map[string]bool
	rawAdded    *addedMatcher // tokens matched on the raw text
	normAdded   *addedMatcher // tokens matched on the normalized text
	vocabSize   int
	raw         rawParts // the JSON of the parts we pass through, for MarshalJSON
}

// Load reads a Hugging Face tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	data, err := inputfile.Read(path, inputfile.TokenizerCap)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return Parse(data, path)
}

// Encode returns the token ids of text, matching added and special tokens
// that appear in it (like HF's encode(text, add_special_tokens=False); the
// Qwen tokenizers add nothing either way). Invalid UTF-8 in text is first
// replaced by U+FFFD, as Python's bytes.decode(errors="replace") would.
func (t *Tokenizer) Encode(text string) []int32 {
	text = lossyString(text)
	ids := make([]int32, 0, len(text)/3+1)
	t.rawAdded.split(text, func(piece string, tok *AddedToken) {
		if tok != nil {
			ids = append(ids, tok.ID)
			return
		}
		t.normAdded.split(t.normalize(piece), func(piece string, tok *AddedToken) {
			if tok != nil {
				ids = append(ids, tok.ID)
				return
			}
			ids = t.encodeText(ids, piece)
		})
	})
	return ids
}

// normalize applies the normalizer chain.
func (t *Tokenizer) normalize(s string) string {
	for _, f := range t.normalizers {
		s = normalizeAsHF(f, s)
	}
	return s
}

// normalizeAsHF applies f the way HF's Unicode 9.0 normalizer does: runs of
// text between normBarriers are normalized, the barriers copied unchanged.
func normalizeAsHF(f norm.Form, s string) string {
	var sb strings.Builder
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0xCC { // below U+0300 nothing is a barrier
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.Is(normBarriers, r) {
			if sb.Len() == 0 {
				sb.Grow(len(s) + 8)
			}
			sb.WriteString(f.String(s[start:i]))
			sb.WriteString(s[i : i+n])
			start = i + n
		}
		i += n
	}
	if start == 0 {
		return f.String(s)
	}
	sb.WriteString(f.String(s[start:]))
	return sb.String()
}

// encodeText pre-tokenizes normalized text and runs the model on each word.
func (t *Tokenizer) encodeText(ids []int32, s string) []int32 {
	if s == "" {
		return ids
	}
	pieces := []string{s}
	for _, p := range t.pre {
		pieces = p.apply(pieces)
	}
	for _, w := range pieces {
		ids = t.model.tokenize(ids, w)
	}
	return ids
}

// PreTokenize returns the words the pre-tokenizer cuts normalized text into,
// before the byte-level mapping (so they read as the input does). It ignores
// added tokens; it is meant for tests and diagnostics.
func (t *Tokenizer) PreTokenize(text string) []string {
	pieces := []string{t.normalize(lossyString(text))}
	for _, p := range t.pre {
		if bl, ok := p.(*byteLevelPre); ok {
			if bl.split != nil {
				pieces = bl.split.apply(pieces)
			}
			continue
		}
		pieces = p.apply(pieces)
	}
	return pieces
}

// tokenString is the string of id: an added token's content or the model's
// (byte-level) token.
func (t *Tokenizer) tokenString(id int32) (string, bool) {
	if a, ok := t.addedByID[id]; ok {
		return a.Content, true
	}
	return t.model.tokens.get(id)
}

// Decode turns ids back into text. An id with no token (in neither the
// vocabulary nor the added tokens) renders as IDText(id), e.g. "<|id:12345|>",
// so that it is visible rather than silently dropped (Hugging Face drops it);
// with skipSpecial, special added tokens are left out. Byte sequences that are not valid UTF-8
// become U+FFFD (one per maximal invalid subpart, like Rust's
// String::from_utf8_lossy, which HF uses).
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	if !t.byteLevel {
		var parts []string
		for _, id := range ids {
			if s, ok := t.visible(id, skipSpecial); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " ")
	}
	buf := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		if s, ok := t.visible(id, skipSpecial); ok {
			buf = appendTokenBytes(buf, s)
		}
	}
	return lossyUTF8(buf)
}

// visible returns the token string of id (IDText(id) for an id with no
// token) unless it is a special token being skipped.
func (t *Tokenizer) visible(id int32, skipSpecial bool) (string, bool) {
	s, ok := t.tokenString(id)
	if !ok {
		// Printable ASCII, which byte-level decoding maps to itself.
		return IDText(id), true
	}
	if skipSpecial && t.specialText[s] {
		return "", false
	}
	return s, true
}

// IDText is how Decode and Stream render an id that has no token: the
// model's vocabulary can be larger than its tokenizer's (Qwen3's 151,936
// ids against 151,669 tokens), and a model may sample any of them.
func IDText(id int32) string { return "<|id:" + strconv.Itoa(int(id)) + "|>" }

// VocabSize is the largest id plus one, counting added tokens.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// TokenID returns the id of a token string: an added token's content, or a
// model token in its byte-level spelling (" hello" is "Ġhello").
func (t *Tokenizer) TokenID(s string) (int32, bool) {
	if a, ok := t.addedByText[s]; ok {
		return a.ID, true
	}
	id, ok := t.model.vocab[s]
	return id, ok
}

// Token returns the string of id, as TokenID accepts it.
func (t *Tokenizer) Token(id int32) (string, bool) { return t.tokenString(id) }

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int32) bool {
	a, ok := t.addedByID[id]
	return ok && a.Special
}

// AddedTokens returns the added tokens, ordered by id.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := make([]AddedToken, len(t.added))
	for i, a := range t.added {
		out[i] = *a
	}
	return out
}

// Name is the file name (or the name given to Parse) the tokenizer came from.
func (t *Tokenizer) Name() string { return t.name }

// setAdded installs the added tokens (in file order) and builds the
// matchers. Ids are assigned the way HF's AddedVocabulary does (the "id"
// written in the file is not used): a content already in the vocabulary
// keeps its vocabulary id, a content seen before keeps its id and takes the
// later options, and a new content gets the next id after the vocabulary
// (the number of vocabulary entries) or after the largest added id.
func (t *Tokenizer) setAdded(list []AddedToken) {
	t.addedByID = map[int32]*AddedToken{}
	t.addedByText = map[string]*AddedToken{}
	t.specialText = map[string]bool{}
	vocabLen := int64(len(t.model.vocab))
	maxAdded := int64(-1)
	var specials, others []string // contents, as HF orders its automaton
	listed := map[string]bool{}
	for _, a := range list {
		if a.Content == "" {
			continue
		}
		var id int64
		if old, ok := t.addedByText[a.Content]; ok {
			id = int64(old.ID)
		} else if vid, ok := t.model.vocab[a.Content]; ok {
			id = int64(vid)
		} else if maxAdded < 0 {
			id = vocabLen
		} else if maxAdded >= vocabLen || vocabLen == 0 {
			id = maxAdded + 1
		} else {
			id = vocabLen
		}
		if id > maxTokenID {
			continue // beyond int32; HF would need 2^31 tokens to get here
		}
		maxAdded = max(maxAdded, id)
		tok := a
		tok.ID = int32(id)
		t.addedByText[a.Content] = &tok
		t.addedByID[tok.ID] = &tok
		if a.Special {
			t.specialText[a.Content] = true
		}
		if !listed[a.Content] {
			listed[a.Content] = true
			if a.Special {
				specials = append(specials, a.Content)
			} else {
				others = append(others, a.Content)
			}
		}
	}
	var rawTok, normTok []*AddedToken
	for _, c := range append(specials, others...) {
		a := t.addedByText[c]
		if a.Normalized {
			normTok = append(normTok, a)
		} else {
			rawTok = append(rawTok, a)
		}
	}
	t.rawAdded = newAddedMatcher(rawTok, func(a *AddedToken) string { return a.Content })
	t.normAdded = newAddedMatcher(normTok, func(a *AddedToken) string { return t.normalize(a.Content) })

	t.added = t.added[:0]
	maxID := int32(-1)
	for id, a := range t.addedByID {
		t.added = append(t.added, a)
		maxID = max(maxID, id)
	}
	sort.Slice(t.added, func(i, j int) bool { return t.added[i].ID < t.added[j].ID })
	for _, id := range t.model.vocab {
		maxID = max(maxID, id)
	}
	t.vocabSize = int(maxID) + 1
}

// maxTokenID is the largest id this package represents.
const maxTokenID = 1<<31 - 1

// rawParts keeps the JSON of the components that MarshalJSON writes back
// unchanged (they were validated when parsed).
type rawParts struct {
	normalizer    json.RawMessage
	preTokenizer  json.RawMessage
	postProcessor json.RawMessage
	decoder       json.RawMessage
}
