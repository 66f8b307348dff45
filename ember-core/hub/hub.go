// Package hub finds a model's snapshot directory on the local disk.
//
// A model argument is one of
//
//   - a snapshot directory: config.json and at least one *.safetensors file;
//   - a Hugging Face cache directory models--Org--Name (the snapshot refs/main points
//     to, else the newest complete snapshot);
//   - a model id Org/Name (or Name), looked up as models--Org--Name under every cache
//     root in priority order: $HUGGINGFACE_HUB_CACHE, $HF_HUB_CACHE, $HF_HOME/hub,
//     ~/.cache/huggingface/hub.
//
// Resolution is local only: this package never touches the network. When nothing is
// found, Resolve returns a *NotFoundError listing every place it looked, so that
// callers can fall back to a built-in preset.
package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// Environment variables that locate the Hugging Face cache, in priority order, and
// the one that names the CLI's default model.
const (
	// EnvHubCache names the hub cache directory itself; looked at first.
	EnvHubCache = "HUGGINGFACE_HUB_CACHE"
	// EnvHubCacheNew is huggingface_hub's newer name for the same; looked at second.
	EnvHubCacheNew = "HF_HUB_CACHE"
	// EnvHFHome names the Hugging Face home; its hub/ subdirectory is looked at third.
	EnvHFHome = "HF_HOME"
	// EnvModelPath is the CLI's default for --model.
	EnvModelPath = "MODEL_PATH"

	defaultCacheUnder = ".cache/huggingface/hub"
)

// MaxIDPartLen is the longest organisation or repository name accepted, as on the Hub.
const MaxIDPartLen = 96

// ErrInvalidID is wrapped by the error Resolve and ValidateID return for a model id
// that cannot be a Hugging Face repository id.
var ErrInvalidID = errors.New("invalid model id")

// Env is the process environment Resolve reads. A nil field falls back to the
// operating system (os.Getenv, os.UserHomeDir); tests inject their own.
type Env struct {
	Getenv  func(key string) string
	HomeDir func() (string, error)
}

// OSEnv returns the Env of the running process.
func OSEnv() Env { return Env{Getenv: os.Getenv, HomeDir: os.UserHomeDir} }

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

func (e Env) home() (string, error) {
	if e.HomeDir == nil {
		return os.UserHomeDir()
	}
	return e.HomeDir()
}

// Kind says which form of model argument Resolve recognised.
type Kind string

// The forms a model argument can take.
const (
	// KindSnapshotDir is a directory holding config.json and *.safetensors.
	KindSnapshotDir Kind = "snapshot dir"
	// KindCacheDir is a models--Org--Name cache directory given as a path.
	KindCacheDir Kind = "cache dir"
	// KindCachedID is an Org/Name id found under a cache root.
	KindCachedID Kind = "cached id"
)

// Resolved is where a model argument led.
type Resolved struct {
	// Arg is the argument as given.
	Arg string
	// Dir is the absolute path of the snapshot directory (config.json, *.safetensors).
	Dir string
	// Kind is the form Arg took.
	Kind Kind
	// RepoID is "Org/Name" when known (from the id or the cache directory's name).
	RepoID string
	// Revision is the snapshot directory's name inside a cache (a commit hash), empty
	// for a plain snapshot directory.
	Revision string
	// Via says how a cached snapshot was chosen: "refs/main" or "newest snapshot".
	Via string
}

// NotFoundError reports that no local snapshot matched a model argument. Checked
// lists every place looked, in order; a place that exists but holds no usable
// snapshot carries the reason in parentheses.
type NotFoundError struct {
	Arg     string
	Checked []string
}

// Error returns one sentence naming the argument and every place checked.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("model %q not found locally; checked %s", e.Arg, strings.Join(e.Checked, ", "))
}

// CacheRoots returns the Hugging Face hub cache directories env designates, in
// priority order and without duplicates: $HUGGINGFACE_HUB_CACHE, $HF_HUB_CACHE,
// $HF_HOME/hub, ~/.cache/huggingface/hub (the last omitted when there is no home
// directory).
func CacheRoots(env Env) []string {
	var roots []string
	add := func(p string) {
		if p == "" {
			return
		}
		p = filepath.Clean(expandHome(p, env))
		for _, r := range roots {
			if r == p {
				return
			}
		}
		roots = append(roots, p)
	}
	add(env.getenv(EnvHubCache))
	add(env.getenv(EnvHubCacheNew))
	if h := env.getenv(EnvHFHome); h != "" {
		add(filepath.Join(h, "hub"))
	}
	if home, err := env.home(); err == nil && home != "" {
		add(filepath.Join(home, defaultCacheUnder))
	}
	return roots
}

func expandHome(p string, env Env) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := env.home()
	if err != nil || home == "" {
		return p
	}
	return filepath.Join(home, strings.TrimPrefix(p[1:], "/"))
}

// ValidateID checks that id can name a Hugging Face repository: one or two parts
// separated by "/", each made of A-Z a-z 0-9 . _ -, at most MaxIDPartLen long, not
// starting or ending with "." or "-", and without ".." or "--" (the cache uses "--"
// as its separator). Absolute paths and "~" are refused. The error wraps ErrInvalidID.
func ValidateID(id string) error {
	if why := idProblem(id); why != "" {
		return fmt.Errorf("model id %q: %s: %w", id, why, ErrInvalidID)
	}
	return nil
}

// idProblem returns why id is not a valid repository id, or "".
func idProblem(id string) string {
	switch {
	case id == "":
		return "empty"
	case strings.HasPrefix(id, "/") || strings.HasPrefix(id, `\`) || filepath.IsAbs(id) ||
		(len(id) >= 2 && id[1] == ':'):
		return "an absolute path is not an id"
	case strings.HasPrefix(id, "~"):
		return `"~" is not allowed`
	case strings.Contains(id, ".."):
		return `".." is not allowed`
	case strings.Contains(id, "--"):
		return `"--" is not allowed`
	}
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return `want Org/Name or Name, with at most one "/"`
	}
	for _, p := range parts {
		if p == "" {
			return "empty organisation or name"
		}
		if len(p) > MaxIDPartLen {
			return fmt.Sprintf("%q is longer than %d characters", p, MaxIDPartLen)
		}
		for _, r := range p {
			if !idChar(r) {
				return fmt.Sprintf("character %q is not allowed (only A-Z a-z 0-9 . _ -)", r)
			}
		}
		if strings.HasPrefix(p, ".") || strings.HasPrefix(p, "-") || strings.HasSuffix(p, ".") || strings.HasSuffix(p, "-") {
			return fmt.Sprintf("%q may not start or end with \".\" or \"-\"", p)
		}
	}
	return ""
}

func idChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// CacheDirName returns the cache directory name of a repository id:
// "Qwen/Qwen3-8B" → "models--Qwen--Qwen3-8B". It does not validate id.
func CacheDirName(id string) string {
	return "models--" + strings.ReplaceAll(id, "/", "--")
}

// RepoIDFromCacheDir returns the repository id a cache directory name stands for
// ("models--Qwen--Qwen3-8B" → "Qwen/Qwen3-8B") and whether name has that form.
func RepoIDFromCacheDir(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "models--")
	if !ok || rest == "" {
		return "", false
	}
	return strings.ReplaceAll(rest, "--", "/"), true
}

// Resolve finds the snapshot directory arg names; see the package doc for the forms
// accepted. A directory that exists but is neither a snapshot nor a cache directory,
// and an invalid id, are errors; a valid id found nowhere is a *NotFoundError.
func Resolve(arg string, env Env) (Resolved, error) {
	if arg == "" {
		return Resolved{}, fmt.Errorf("no model given: pass a snapshot directory, a models--Org--Name cache directory or an Org/Name id (or set %s)", EnvModelPath)
	}
	local := expandHome(arg, env)
	abs, err := filepath.Abs(local)
	if err != nil {
		abs = local
	}
	st, statErr := os.Stat(local)
	if statErr == nil && !st.IsDir() {
		return Resolved{}, fmt.Errorf("model %q: %s is a file, want a directory", arg, abs)
	}
	if statErr == nil {
		return resolveDir(arg, abs)
	}
	if !errors.Is(statErr, fs.ErrNotExist) {
		return Resolved{}, fmt.Errorf("model %q: %w", arg, statErr)
	}
	if why := idProblem(arg); why != "" {
		return Resolved{}, fmt.Errorf("model %q is neither a directory (no %s) nor a valid model id (%s): %w", arg, abs, why, ErrInvalidID)
	}
	checked := []string{abs + " (no such directory)"}
	name := CacheDirName(arg)
	for _, root := range CacheRoots(env) {
		dir := filepath.Join(root, name)
		if _, err := os.Stat(dir); err != nil {
			checked = append(checked, dir)
			continue
		}
		r, why := pickCached(dir)
		if why != "" {
			checked = append(checked, dir+" ("+why+")")
			continue
		}
		r.Arg, r.Kind, r.RepoID = arg, KindCachedID, arg
		return r, nil
	}
	return Resolved{}, &NotFoundError{Arg: arg, Checked: checked}
}

func resolveDir(arg, dir string) (Resolved, error) {
	if why := snapshotProblem(dir); why == "" {
		return Resolved{Arg: arg, Dir: dir, Kind: KindSnapshotDir}, nil
	} else if !isCacheDir(dir) {
		return Resolved{}, fmt.Errorf("model %q: directory %s is not a snapshot (%s) and not a models--Org--Name cache directory (no snapshots/)", arg, dir, why)
	}
	r, why := pickCached(dir)
	if why != "" {
		return Resolved{}, fmt.Errorf("model %q: cache directory %s has %s", arg, dir, why)
	}
	r.Arg, r.Kind = arg, KindCacheDir
	if id, ok := RepoIDFromCacheDir(filepath.Base(dir)); ok {
		r.RepoID = id
	}
	return r, nil
}

func isCacheDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "snapshots"))
	return err == nil && st.IsDir()
}

// snapshotProblem returns "" when dir holds config.json and at least one
// *.safetensors file, else what is missing.
func snapshotProblem(dir string) string {
	st, err := os.Stat(filepath.Join(dir, "config.json"))
	hasConfig := err == nil && !st.IsDir()
	matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	hasTensors := false
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && !st.IsDir() {
			hasTensors = true
			break
		}
	}
	switch {
	case !hasConfig && !hasTensors:
		return "no config.json and no *.safetensors"
	case !hasConfig:
		return "no config.json"
	case !hasTensors:
		return "no *.safetensors"
	}
	return ""
}

// pickCached chooses the snapshot of a cache directory: the one refs/main names when
// it is complete, else the complete snapshot with the newest modification time
// (ties broken by name). It returns the reason when there is none.
func pickCached(cacheDir string) (Resolved, string) {
	snaps := filepath.Join(cacheDir, "snapshots")
	if b, err := inputfile.Read(filepath.Join(cacheDir, "refs", "main"), 4096); err == nil {
		rev := strings.TrimSpace(string(b))
		if validRevision(rev) {
			dir := filepath.Join(snaps, rev)
			if snapshotProblem(dir) == "" {
				return Resolved{Dir: dir, Revision: rev, Via: "refs/main"}, ""
			}
		}
	}
	entries, err := os.ReadDir(snaps)
	if err != nil {
		return Resolved{}, "no snapshots/ directory"
	}
	type cand struct {
		name string
		mod  int64
	}
	var cands []cand
	for _, e := range entries {
		dir := filepath.Join(snaps, e.Name())
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || snapshotProblem(dir) != "" {
			continue
		}
		cands = append(cands, cand{e.Name(), st.ModTime().UnixNano()})
	}
	if len(cands) == 0 {
		return Resolved{}, "no snapshot with config.json and *.safetensors"
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].mod != cands[j].mod {
			return cands[i].mod > cands[j].mod
		}
		return cands[i].name > cands[j].name
	})
	return Resolved{Dir: filepath.Join(snaps, cands[0].name), Revision: cands[0].name, Via: "newest snapshot"}, ""
}

// validRevision accepts what refs/main may name: a single path element of letters,
// digits, "." "_" "-", never ".." — so a hostile ref cannot point outside snapshots/.
func validRevision(rev string) bool {
	if rev == "" || rev == "." || strings.Contains(rev, "..") {
		return false
	}
	for _, r := range rev {
		if !idChar(r) {
			return false
		}
	}
	return true
}
