package hub

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSnapshot makes dir a minimal snapshot: config.json and one *.safetensors file
// (their content does not matter to resolution).
func writeSnapshot(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testEnv returns an Env reading vars and a home directory, never the process's.
func testEnv(home string, vars map[string]string) Env {
	return Env{
		Getenv:  func(k string) string { return vars[k] },
		HomeDir: func() (string, error) { return home, nil },
	}
}

func TestResolveSnapshotDir(t *testing.T) {
	dir := t.TempDir()
	writeSnapshot(t, dir)
	r, err := Resolve(dir, testEnv(t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != dir || r.Kind != KindSnapshotDir || r.Revision != "" {
		t.Errorf("got %+v", r)
	}
}

func TestResolveNotASnapshot(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.json"), "{}")
	_, err := Resolve(dir, testEnv(t.TempDir(), nil))
	if err == nil || !strings.Contains(err.Error(), "no *.safetensors") {
		t.Fatalf("got %v, want an error saying *.safetensors is missing", err)
	}
	var nf *NotFoundError
	if errors.As(err, &nf) {
		t.Errorf("an existing directory that is not a snapshot is not a NotFoundError: %v", err)
	}
}

func TestResolveCacheDirRefsMain(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "models--Qwen--Qwen3-8B")
	writeSnapshot(t, filepath.Join(cache, "snapshots", "aaaa"))
	writeSnapshot(t, filepath.Join(cache, "snapshots", "bbbb"))
	// bbbb is newer, but refs/main names aaaa.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(cache, "snapshots", "aaaa"), old, old); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cache, "refs", "main"), "aaaa\n")
	r, err := Resolve(cache, testEnv(t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{Arg: cache, Dir: filepath.Join(cache, "snapshots", "aaaa"), Kind: KindCacheDir,
		RepoID: "Qwen/Qwen3-8B", Revision: "aaaa", Via: "refs/main"}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
}

func TestResolveCacheDirNewest(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "models--Qwen--Qwen3-8B")
	snaps := filepath.Join(cache, "snapshots")
	writeSnapshot(t, filepath.Join(snaps, "old"))
	writeSnapshot(t, filepath.Join(snaps, "new"))
	if err := os.MkdirAll(filepath.Join(snaps, "partial"), 0o755); err != nil { // newest but incomplete
		t.Fatal(err)
	}
	now := time.Now()
	for name, age := range map[string]time.Duration{"old": 2 * time.Hour, "new": time.Hour, "partial": 0} {
		ts := now.Add(-age)
		if err := os.Chtimes(filepath.Join(snaps, name), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	// A refs/main that escapes snapshots/ is ignored.
	writeFile(t, filepath.Join(cache, "refs", "main"), "../../elsewhere")
	r, err := Resolve(cache, testEnv(t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != "new" || r.Via != "newest snapshot" {
		t.Errorf("got %+v, want the snapshot \"new\"", r)
	}
}

func TestResolveCacheDirEmpty(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "models--Qwen--Qwen3-8B")
	if err := os.MkdirAll(filepath.Join(cache, "snapshots", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(cache, testEnv(t.TempDir(), nil))
	if err == nil || !strings.Contains(err.Error(), "no snapshot with config.json") {
		t.Fatalf("got %v", err)
	}
}

// TestResolveIDPriority puts the model under every cache root and removes it from the
// highest-priority root one at a time: each env var is consulted in turn.
func TestResolveIDPriority(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	roots := []struct{ env, dir string }{
		{EnvHubCache, filepath.Join(base, "hubcache")},
		{EnvHubCacheNew, filepath.Join(base, "hfhubcache")},
		{EnvHFHome, filepath.Join(base, "hfhome")},
		{"", filepath.Join(home, ".cache", "huggingface", "hub")},
	}
	vars := map[string]string{}
	var cacheDirs []string
	for _, r := range roots {
		root := r.dir
		if r.env == EnvHFHome {
			vars[r.env] = r.dir
			root = filepath.Join(r.dir, "hub")
		} else if r.env != "" {
			vars[r.env] = r.dir
		}
		cd := filepath.Join(root, "models--Qwen--Qwen3-8B")
		writeSnapshot(t, filepath.Join(cd, "snapshots", "rev"))
		cacheDirs = append(cacheDirs, cd)
	}
	t.Chdir(base) // so that "Qwen/Qwen3-8B" is not a relative directory
	env := testEnv(home, vars)
	for i, cd := range cacheDirs {
		r, err := Resolve("Qwen/Qwen3-8B", env)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if want := filepath.Join(cd, "snapshots", "rev"); r.Dir != want || r.Kind != KindCachedID || r.RepoID != "Qwen/Qwen3-8B" {
			t.Errorf("step %d: got %+v, want dir %s", i, r, want)
		}
		if err := os.RemoveAll(cd); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Resolve("Qwen/Qwen3-8B", env)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want *NotFoundError", err)
	}
	want := []string{filepath.Join(base, "Qwen", "Qwen3-8B") + " (no such directory)"}
	want = append(want, cacheDirs...)
	if strings.Join(nf.Checked, "|") != strings.Join(want, "|") {
		t.Errorf("checked\n%q\nwant\n%q", nf.Checked, want)
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not name %s", msg, w)
		}
	}
	if strings.Count(msg, ". ") > 0 || strings.Contains(msg, "\n") {
		t.Errorf("message is not one sentence: %q", msg)
	}
}

func TestResolveIDIncompleteCacheNamed(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	root := filepath.Join(base, "hub")
	if err := os.MkdirAll(filepath.Join(root, "models--Qwen--Qwen3-8B", "snapshots", "rev"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve("Qwen/Qwen3-8B", testEnv("", map[string]string{EnvHubCache: root}))
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "models--Qwen--Qwen3-8B (no snapshot with config.json and *.safetensors)") {
		t.Fatalf("got %v", err)
	}
}

func TestResolveRelativeDirWinsOverID(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	writeSnapshot(t, filepath.Join(base, "Qwen", "Qwen3-8B"))
	r, err := Resolve("Qwen/Qwen3-8B", testEnv(t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindSnapshotDir || r.Dir != filepath.Join(base, "Qwen", "Qwen3-8B") {
		t.Errorf("got %+v", r)
	}
}

func TestResolveRefusesBadIDs(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, id := range []string{
		"Qwen/../etc", "../Qwen3-8B", "Qwen/..", "/abs/Qwen3-8B", "~/Qwen3-8B",
		"Qwen/Qwen3 8B", "Qwen/Qwen3-8B;rm", "Qwen/Qwen3*", "a/b/c", "Qwen--x/y",
		"-Qwen/Qwen3", "Qwen/Qwen3.", "Qwen/", "Qwen/Qwen\u00e93",
	} {
		_, err := Resolve(id, testEnv(t.TempDir(), nil))
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("%q: got %v, want ErrInvalidID", id, err)
			continue
		}
		var nf *NotFoundError
		if errors.As(err, &nf) {
			t.Errorf("%q: an invalid id must not read as not found", id)
		}
	}
	_, err := Resolve("Qwen/../etc", testEnv("", nil))
	if err == nil || !strings.Contains(err.Error(), `".." is not allowed`) {
		t.Errorf("got %v, want it to name \"..\"", err)
	}
}

func TestValidateIDAccepts(t *testing.T) {
	for _, id := range []string{"Qwen/Qwen3-8B", "Qwen3-8B", "Qwen/Qwen3-4B-Instruct-2507", "org_x/a.b_c-d", "gpt2"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
}

func TestCacheRoots(t *testing.T) {
	env := testEnv("/home/u", map[string]string{EnvHFHome: "~/hf", EnvHubCache: "/c"})
	got := CacheRoots(env)
	want := []string{"/c", "/home/u/hf/hub", "/home/u/.cache/huggingface/hub"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	// Duplicates collapse; no home means no default root.
	env = Env{Getenv: func(k string) string { return map[string]string{EnvHubCache: "/c", EnvHubCacheNew: "/c/"}[k] },
		HomeDir: func() (string, error) { return "", errors.New("no home") }}
	if got := CacheRoots(env); len(got) != 1 || got[0] != "/c" {
		t.Errorf("got %q", got)
	}
}

func TestCacheDirNames(t *testing.T) {
	if got := CacheDirName("Qwen/Qwen3-8B"); got != "models--Qwen--Qwen3-8B" {
		t.Errorf("got %s", got)
	}
	if id, ok := RepoIDFromCacheDir("models--Qwen--Qwen3-8B"); !ok || id != "Qwen/Qwen3-8B" {
		t.Errorf("got %s %v", id, ok)
	}
	if _, ok := RepoIDFromCacheDir("Qwen3-8B"); ok {
		t.Error("accepted a name without models--")
	}
}

func TestResolveFileAndEmpty(t *testing.T) {
	f := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, f, "{}")
	if _, err := Resolve(f, testEnv("", nil)); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("got %v", err)
	}
	if _, err := Resolve("", testEnv("", nil)); err == nil || !strings.Contains(err.Error(), EnvModelPath) {
		t.Errorf("got %v", err)
	}
}
