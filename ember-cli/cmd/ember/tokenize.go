package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/inputfile"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

func tokenizerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{"MODEL_PATH"}, Usage: "model whose tokenizer.json to use"},
		&cli.StringFlag{Name: "tokenizer", Usage: "a tokenizer.json file (instead of --model)"},
		&cli.StringFlag{Name: "input", Usage: "a JSON file holding an array of inputs; answered with a JSON array"},
	}
}

func tokenizeCommand() *cli.Command {
	return &cli.Command{
		Name:  "tokenize",
		Usage: "turn text into token ids",
		UsageText: `ember tokenize (-m MODEL | --tokenizer FILE) [--input FILE.json]

Examples:
  echo -n "Hello, world" | ember tokenize -m testdata/models/tiny-qwen3
  ember tokenize --tokenizer tokenizer.json --input strings.json     # ["a", "b"] → [[...], [...]]`,
		Description: "Text comes from stdin (all of it, newlines included) and ids go to stdout as a JSON array.",
		Flags:       tokenizerFlags(),
		Action: func(c *cli.Context) error {
			tok, err := loadTokenizer(c)
			if err != nil {
				return err
			}
			if in := c.String("input"); in != "" {
				var texts []string
				if err := readJSON(in, &texts, "an array of strings"); err != nil {
					return err
				}
				out := make([][]int32, len(texts))
				for i, s := range texts {
					out[i] = nonNil(tok.Encode(s))
				}
				return printJSON(c.App.Writer, out)
			}
			b, err := io.ReadAll(c.App.Reader)
			if err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			return printJSON(c.App.Writer, nonNil(tok.Encode(string(b))))
		},
	}
}

func detokenizeCommand() *cli.Command {
	return &cli.Command{
		Name:  "detokenize",
		Usage: "turn token ids into text",
		UsageText: `ember detokenize (-m MODEL | --tokenizer FILE) [--input FILE.json] [--skip-special]

Examples:
  echo "[9707, 11, 1879]" | ember detokenize -m Qwen/Qwen3-0.6B
  ember detokenize --tokenizer tokenizer.json --input ids.json --skip-special   # [[1,2],[3]] → ["..", ".."]`,
		Description: `Ids come from stdin as a JSON array or separated by spaces/commas; the text goes
to stdout. Like Hugging Face's decode, special tokens are kept unless --skip-special;
an id the tokenizer has no token for prints as <|id:N|> (as in ember run).`,
		Flags: append(tokenizerFlags(), &cli.BoolFlag{Name: "skip-special", Usage: "drop special tokens"}),
		Action: func(c *cli.Context) error {
			tok, err := loadTokenizer(c)
			if err != nil {
				return err
			}
			skip := c.Bool("skip-special")
			if in := c.String("input"); in != "" {
				var batches [][]int32
				if err := readJSON(in, &batches, "an array of arrays of token ids"); err != nil {
					return err
				}
				out := make([]string, len(batches))
				for i, ids := range batches {
					if err := checkIDs(ids, fmt.Sprintf("%s: entry %d", in, i)); err != nil {
						return err
					}
					out[i] = tok.Decode(ids, skip)
				}
				return printJSON(c.App.Writer, out)
			}
			b, err := io.ReadAll(c.App.Reader)
			if err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			ids, err := parseIDs(string(b))
			if err != nil {
				return err
			}
			if err := checkIDs(ids, "stdin"); err != nil {
				return err
			}
			_, err = io.WriteString(c.App.Writer, tok.Decode(ids, skip))
			return err
		},
	}
}

func loadTokenizer(c *cli.Context) (*tokenizer.Tokenizer, error) {
	if p := c.String("tokenizer"); p != "" {
		return tokenizer.Load(p)
	}
	m := c.String("model")
	if m == "" {
		return nil, errors.New("no tokenizer: pass --tokenizer FILE or -m MODEL (or set MODEL_PATH)")
	}
	res, err := hub.Resolve(m, hub.OSEnv())
	if err != nil {
		return nil, err
	}
	return tokenizer.Load(filepath.Join(res.Dir, "tokenizer.json"))
}

func readJSON(path string, v any, want string) error {
	b, err := inputfile.Read(path, inputfile.TokenizerCap)
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("--input %s: want %s: %v", path, want, err)
	}
	return nil
}

// parseIDs reads a JSON array of ids or ids separated by spaces or commas.
func parseIDs(s string) ([]int32, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var ids []int32
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, fmt.Errorf("stdin: want a JSON array of token ids: %v", err)
		}
		return ids, nil
	}
	var ids []int32
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("stdin: %q is not a token id", f)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

// checkIDs refuses negative ids. An id with no token is not an error: it
// decodes to tokenizer.IDText(id), e.g. <|id:151700|>, as `ember run` prints it.
func checkIDs(ids []int32, where string) error {
	for _, id := range ids {
		if id < 0 {
			return fmt.Errorf("%s: token id %d is negative", where, id)
		}
	}
	return nil
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
