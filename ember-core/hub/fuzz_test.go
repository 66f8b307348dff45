package hub

import (
	"path/filepath"
	"testing"
)

// FuzzResolve: any model argument resolves or fails with an error, never a
// panic; a valid id round-trips through its cache folder name, and an
// argument that resolves names an existing directory.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"Qwen/Qwen3-0.6B", "models--Qwen--Qwen3-0.6B", "..", "/", "a/b/c", "Qwen/../x", "", "--", "Org/Name\x00", "~/m"} {
		f.Add(s)
	}
	cache := f.TempDir()
	env := Env{Getenv: func(k string) string {
		if k == "HF_HUB_CACHE" {
			return cache
		}
		return ""
	}, HomeDir: func() (string, error) { return cache, nil }}
	f.Fuzz(func(t *testing.T, arg string) {
		if ValidateID(arg) == nil {
			name := CacheDirName(arg)
			if back, ok := RepoIDFromCacheDir(name); !ok || back != arg {
				t.Fatalf("id %q → cache dir %q → %q, %v", arg, name, back, ok)
			}
			if filepath.Base(name) != name {
				t.Fatalf("id %q gives cache dir %q with a separator", arg, name)
			}
		}
		if r, err := Resolve(arg, env); err == nil && r.Dir == "" {
			t.Fatalf("Resolve(%q) succeeded with no directory", arg)
		}
	})
}
