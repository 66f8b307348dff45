package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// fileJSON is the top level of a tokenizer.json.
type fileJSON struct {
	AddedTokens   []addedJSON     `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type addedJSON struct {
	ID         int64  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int64 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
}

// typed reads the "type" tag of a component.
type typed struct {
	Type string `json:"type"`
}

// parseError is one sentence naming the file and the field.
func parseError(name, field, format string, args ...any) error {
	return fmt.Errorf("tokenizer %s: %s: %s", name, field, fmt.Sprintf(format, args...))
}

func unsupported(name, field, what string, value string) error {
	return fmt.Errorf("tokenizer %s: %s: %w %s %q", name, field, ErrUnsupported, what, value)
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// Parse reads tokenizer.json bytes; name (usually the path) is used in errors.
// It supports BPE models with NFC/NFD/NFKC/NFKD normalizers, Split and
// ByteLevel pre-tokenizers and the ByteLevel decoder and post-processor:
// everything the Qwen2 family uses. Anything else is an error wrapping
// ErrUnsupported. As in HF, the "id" of an added token is not read: ids are
// assigned in list order (see AddedToken). "truncation" and "padding" are
// ignored (the Qwen files have none).
func Parse(data []byte, name string) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer %s: invalid JSON: %w", name, err)
	}
	t := &Tokenizer{name: name}
	var err error
	if t.normalizers, err = parseNormalizer(name, "normalizer", f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(name, "pre_tokenizer", f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := checkPostProcessor(name, f.PostProcessor); err != nil {
		return nil, err
	}
	if t.byteLevel, err = parseDecoder(name, f.Decoder); err != nil {
		return nil, err
	}
	if t.model, err = parseModel(name, f.Model); err != nil {
		return nil, err
	}
	list := make([]AddedToken, 0, len(f.AddedTokens))
	for i, a := range f.AddedTokens {
		if a.ID < 0 || a.ID > maxTokenID {
			return nil, parseError(name, fmt.Sprintf("added_tokens[%d].id", i), "%d is out of range", a.ID)
		}
		normalized := !a.Special
		if a.Normalized != nil {
			normalized = *a.Normalized
		}
		list = append(list, AddedToken{ID: int32(a.ID), Content: a.Content, SingleWord: a.SingleWord,
			LStrip: a.LStrip, RStrip: a.RStrip, Normalized: normalized, Special: a.Special})
	}
	t.setAdded(list)
	t.raw = rawParts{
		normalizer:    compactJSON(f.Normalizer),
		preTokenizer:  compactJSON(f.PreTokenizer),
		postProcessor: compactJSON(f.PostProcessor),
		decoder:       compactJSON(f.Decoder),
	}
	return t, nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return json.RawMessage("null")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return json.RawMessage("null")
	}
	return b.Bytes()
}

func parseNormalizer(name, field string, raw json.RawMessage) ([]norm.Form, error) {
	if isNull(raw) {
		return nil, nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, parseError(name, field, "%v", err)
	}
	switch n.Type {
	case "NFC":
		return []norm.Form{norm.NFC}, nil
	case "NFD":
		return []norm.Form{norm.NFD}, nil
	case "NFKC":
		return []norm.Form{norm.NFKC}, nil
	case "NFKD":
		return []norm.Form{norm.NFKD}, nil
	case "Sequence":
		var out []norm.Form
		for i, sub := range n.Normalizers {
			forms, err := parseNormalizer(name, fmt.Sprintf("%s.normalizers[%d]", field, i), sub)
			if err != nil {
				return nil, err
			}
			out = append(out, forms...)
		}
		return out, nil
	}
	return nil, unsupported(name, field+".type", "normalizer type", n.Type)
}

func parsePreTokenizer(name, field string, raw json.RawMessage) ([]preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var p struct {
		Type           string            `json:"type"`
		Pretokenizers  []json.RawMessage `json:"pretokenizers"`
		Pattern        json.RawMessage   `json:"pattern"`
		Behavior       string            `json:"behavior"`
		Invert         bool              `json:"invert"`
		AddPrefixSpace bool              `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, parseError(name, field, "%v", err)
	}
	switch p.Type {
	case "Sequence":
		var out []preTokenizer
		for i, sub := range p.Pretokenizers {
			pts, err := parsePreTokenizer(name, fmt.Sprintf("%s.pretokenizers[%d]", field, i), sub)
			if err != nil {
				return nil, err
			}
			out = append(out, pts...)
		}
		return out, nil
	case "Split":
		var pat struct {
			Regex  *string `json:"Regex"`
			String *string `json:"String"`
		}
		if err := json.Unmarshal(p.Pattern, &pat); err != nil {
			return nil, parseError(name, field+".pattern", "%v", err)
		}
		var m matcher
		switch {
		case pat.Regex != nil:
			var err error
			if m, err = compilePattern(*pat.Regex); err != nil {
				return nil, parseError(name, field+".pattern.Regex", "%v", err)
			}
		case pat.String != nil:
			m = literalMatcher{*pat.String}
		default:
			return nil, parseError(name, field+".pattern", "neither Regex nor String is given")
		}
		b, ok := behaviorNames[p.Behavior]
		if !ok {
			return nil, unsupported(name, field+".behavior", "split behavior", p.Behavior)
		}
		return []preTokenizer{&splitPre{m: m, behavior: b, invert: p.Invert}}, nil
	case "ByteLevel":
		bl := &byteLevelPre{addPrefixSpace: p.AddPrefixSpace}
		if p.UseRegex == nil || *p.UseRegex {
			m, err := compilePattern(gpt2Pattern)
			if err != nil {
				return nil, parseError(name, field, "%v", err)
			}
			bl.split = &splitPre{m: m, behavior: behaviorIsolated}
		}
		return []preTokenizer{bl}, nil
	}
	return nil, unsupported(name, field+".type", "pre-tokenizer type", p.Type)
}

func checkPostProcessor(name string, raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var p typed
	if err := json.Unmarshal(raw, &p); err != nil {
		return parseError(name, "post_processor", "%v", err)
	}
	if p.Type != "ByteLevel" { // ByteLevel only adjusts offsets
		return unsupported(name, "post_processor.type", "post-processor type", p.Type)
	}
	return nil
}

func parseDecoder(name string, raw json.RawMessage) (byteLevel bool, err error) {
	if isNull(raw) {
		return false, nil
	}
	var d typed
	if err := json.Unmarshal(raw, &d); err != nil {
		return false, parseError(name, "decoder", "%v", err)
	}
	if d.Type != "ByteLevel" {
		return false, unsupported(name, "decoder.type", "decoder type", d.Type)
	}
	return true, nil
}

func parseModel(name string, raw json.RawMessage) (*bpe, error) {
	if isNull(raw) {
		return nil, parseError(name, "model", "missing")
	}
	var mj modelJSON
	if err := json.Unmarshal(raw, &mj); err != nil {
		return nil, parseError(name, "model", "%v", err)
	}
	if mj.Type != "BPE" && !(mj.Type == "" && mj.Vocab != nil && mj.Merges != nil) {
		return nil, unsupported(name, "model.type", "model type", mj.Type)
	}
	if mj.Dropout != nil && *mj.Dropout != 0 {
		return nil, unsupported(name, "model.dropout", "BPE dropout", fmt.Sprint(*mj.Dropout))
	}
	vocab := make(map[string]int32, len(mj.Vocab))
	for tok, id := range mj.Vocab {
		if id < 0 || id > maxTokenID {
			return nil, parseError(name, "model.vocab", "token %q has id %d, out of range", tok, id)
		}
		vocab[tok] = int32(id)
	}
	merges, pairs, err := parseMerges(mj.Merges)
	if err != nil {
		return nil, parseError(name, "model.merges", "%v", err)
	}
	m, err := newBPE(vocab, merges, mj.ContinuingSubwordPrefix)
	if err != nil {
		return nil, parseError(name, "model.merges", "%v", err)
	}
	m.pairs = pairs
	m.suffix = mj.EndOfWordSuffix
	m.fuseUnk = mj.FuseUnk
	m.byteFallback = mj.ByteFallback
	m.ignoreMerges = mj.IgnoreMerges
	m.unkToken = mj.UnkToken
	if mj.UnkToken != nil {
		id, ok := vocab[*mj.UnkToken]
		if !ok {
			return nil, parseError(name, "model.unk_token", "%q is not in the vocabulary", *mj.UnkToken)
		}
		m.unk = id
	}
	return m, nil
}

// parseMerges accepts both spellings: ["a b", ...] and [["a","b"], ...].
func parseMerges(raw json.RawMessage) (merges [][2]string, pairs bool, err error) {
	if isNull(raw) {
		return nil, false, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		merges = make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, false, fmt.Errorf("merge %d (%q) is not two tokens separated by one space", i, s)
			}
			merges[i] = [2]string{a, b}
		}
		return merges, false, nil
	}
	var tuples [][]string
	if err := json.Unmarshal(raw, &tuples); err != nil {
		return nil, false, fmt.Errorf("neither a list of strings nor a list of pairs")
	}
	merges = make([][2]string, len(tuples))
	for i, p := range tuples {
		if len(p) != 2 {
			return nil, false, fmt.Errorf("merge %d has %d tokens, not 2", i, len(p))
		}
		merges[i] = [2]string{p[0], p[1]}
	}
	return merges, true, nil
}

// MarshalJSON writes the tokenizer as a Hugging Face tokenizer.json that the
// tokenizers library loads; Parse of the result encodes identically.
func (t *Tokenizer) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	for i, a := range t.added {
		if i > 0 {
			b.WriteByte(',')
		}
		err := writeJSON(&b, struct {
			ID         int32  `json:"id"`
			Content    string `json:"content"`
			SingleWord bool   `json:"single_word"`
			LStrip     bool   `json:"lstrip"`
			RStrip     bool   `json:"rstrip"`
			Normalized bool   `json:"normalized"`
			Special    bool   `json:"special"`
		}{a.ID, a.Content, a.SingleWord, a.LStrip, a.RStrip, a.Normalized, a.Special})
		if err != nil {
			return nil, err
		}
	}
	b.WriteString(`],"normalizer":`)
	b.Write(nullIfEmpty(t.raw.normalizer))
	b.WriteString(`,"pre_tokenizer":`)
	b.Write(nullIfEmpty(t.raw.preTokenizer))
	b.WriteString(`,"post_processor":`)
	b.Write(nullIfEmpty(t.raw.postProcessor))
	b.WriteString(`,"decoder":`)
	b.Write(nullIfEmpty(t.raw.decoder))
	b.WriteString(`,"model":`)
	if err := t.model.marshal(&b); err != nil {
		return nil, err
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func nullIfEmpty(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	return raw
}

// marshal writes the BPE model object, vocabulary in id order.
func (m *bpe) marshal(b *bytes.Buffer) error {
	enc := func(v any) error { return writeJSON(b, v) }
	b.WriteString(`{"type":"BPE","dropout":null,"unk_token":`)
	if err := enc(m.unkToken); err != nil {
		return err
	}
	b.WriteString(`,"continuing_subword_prefix":`)
	if err := enc(m.prefix); err != nil {
		return err
	}
	b.WriteString(`,"end_of_word_suffix":`)
	if err := enc(m.suffix); err != nil {
		return err
	}
	fmt.Fprintf(b, `,"fuse_unk":%t,"byte_fallback":%t,"ignore_merges":%t,"vocab":{`, m.fuseUnk, m.byteFallback, m.ignoreMerges)
	type entry struct {
		tok string
		id  int32
	}
	entries := make([]entry, 0, len(m.vocab))
	for tok, id := range m.vocab {
		entries = append(entries, entry{tok, id})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].id != entries[j].id {
			return entries[i].id < entries[j].id
		}
		return entries[i].tok < entries[j].tok
	})
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc(e.tok); err != nil {
			return err
		}
		fmt.Fprintf(b, ":%d", e.id)
	}
	b.WriteString(`},"merges":[`)
	pairs := m.pairs
	for _, mg := range m.mergeList {
		if strings.Contains(mg[0], " ") || strings.Contains(mg[1], " ") {
			pairs = true // "a b" cannot spell a token with a space
		}
	}
	for i, mg := range m.mergeList {
		if i > 0 {
			b.WriteByte(',')
		}
		var err error
		if pairs {
			err = enc(mg)
		} else {
			err = enc(mg[0] + " " + mg[1])
		}
		if err != nil {
			return err
		}
	}
	b.WriteString("]}")
	return nil
}

// writeJSON appends v as JSON without HTML escaping ("<|im_end|>" stays readable).
func writeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}
