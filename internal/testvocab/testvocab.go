// Package testvocab finds OpenAI's CLIP BPE vocabulary
// (bpe_simple_vocab_16e6.txt.gz) for the tests that check the tokenizer and
// Algorithm 1 against it. The file is OpenAI's and is not committed; a user's
// clone finds it where users keep it, CI finds it in ../shared/clip beside
// the repository. Where it is nowhere, those tests are skipped with a note
// saying how to get it, except under CI=true, where its absence fails them.
package testvocab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FileName is the name OpenAI's CLIP repository gives the vocabulary.
const FileName = "bpe_simple_vocab_16e6.txt.gz"

// EnvPath names the vocabulary file, or a model directory holding it.
const EnvPath = "GRID_CLIP_BPE"

// Source is where to download the file from.
const Source = "https://github.com/openai/CLIP/raw/main/clip/" + FileName

// Path returns the vocabulary file, or skips t (fails it under CI=true)
// naming every place looked in and how to get the file.
func Path(t testing.TB) string {
	t.Helper()
	p, looked := Find()
	if p != "" {
		return p
	}
	msg := "OpenAI's CLIP vocabulary " + FileName + " not found (looked in: " + strings.Join(looked, ", ") +
		"); download " + Source + " and set " + EnvPath + " to the file (or a model directory holding it), or put it in ~/.cache/grid/"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Find returns the first existing vocabulary file among, in order: the
// file or directory $GRID_CLIP_BPE names; ../shared/clip beside the
// repository (CI's layout); the grid cache ($GRID_CACHE_DIR, default
// ~/.cache/grid). It returns "" and the places looked in when none exists.
func Find() (path string, looked []string) {
	var candidates []string
	if env := os.Getenv(EnvPath); env != "" {
		if st, err := os.Stat(env); err == nil && st.IsDir() {
			env = filepath.Join(env, FileName)
		}
		candidates = append(candidates, env)
	}
	if root, err := repoRoot(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(root), "shared", "clip", FileName))
	}
	if cache := cacheDir(); cache != "" {
		candidates = append(candidates, filepath.Join(cache, FileName))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", candidates
}

// repoRoot is the directory holding go.mod above the working directory (a
// test runs in its package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no go.mod above " + dir)
		}
		dir = filepath.Dir(dir)
	}
}

// cacheDir is grid's cache directory as the engine chooses it.
func cacheDir() string {
	if d := os.Getenv("GRID_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "grid")
	}
	return ""
}
