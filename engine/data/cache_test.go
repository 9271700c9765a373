package data

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cacheFiles lists the finished cache files (and any temporary leftovers).
func cacheFiles(t *testing.T, dir string) (files, temps []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			temps = append(temps, p)
		} else {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, temps
}

func TestCacheDecodesOnce(t *testing.T) {
	src := filepath.Join(t.TempDir(), "a.jpg")
	writeJPEG(t, src, 90, 60, 1)
	dir := t.TempDir()
	c, err := NewCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Load(src, Squash, 32)
	if err != nil {
		t.Fatal(err)
	}
	decoded, _ := DecodeFile(src)
	if !equalImages(first, Prepare(decoded, Squash, 32)) {
		t.Fatal("cached image differs from decode + resize")
	}
	second, err := c.Load(src, Squash, 32)
	if err != nil || !equalImages(first, second) || c.Decodes() != 1 {
		t.Fatalf("second load: %v, decodes %d (want 1)", err, c.Decodes())
	}
	// Another process (a fresh Cache on the same folder) decodes nothing.
	other, _ := NewCache(dir)
	if img, err := other.Load(src, Squash, 32); err != nil || !equalImages(img, first) || other.Decodes() != 0 {
		t.Fatalf("fresh cache: %v, decodes %d (want 0)", err, other.Decodes())
	}
	// Mode and size are part of the key.
	test, err := c.Load(src, ShorterSideCrop, 32)
	if err != nil || equalImages(test, first) || !equalImages(test, Prepare(decoded, ShorterSideCrop, 32)) {
		t.Fatalf("test-mode entry: %v", err)
	}
	if big, err := c.Load(src, Squash, 48); err != nil || big.Width != 48 || c.Decodes() != 3 {
		t.Fatalf("size 48: %v, decodes %d (want 3)", err, c.Decodes())
	}
	if files, temps := cacheFiles(t, dir); len(files) != 3 || len(temps) != 0 {
		t.Errorf("cache holds %d files and %d temporaries, want 3 and 0", len(files), len(temps))
	}

	// Editing the source (new size and mtime) is a new entry.
	writeJPEG(t, src, 90, 60, 2)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	edited, err := c.Load(src, Squash, 32)
	if err != nil || equalImages(edited, first) || c.Decodes() != 4 {
		t.Fatalf("edited source: %v, decodes %d (want 4)", err, c.Decodes())
	}
}

func TestCacheConcurrentBuilders(t *testing.T) {
	srcDir := t.TempDir()
	var srcs []string
	for i := range 3 {
		p := filepath.Join(srcDir, itoa(i)+".jpg")
		writeJPEG(t, p, 120, 80, uint64(i))
		srcs = append(srcs, p)
	}
	dir := t.TempDir()
	// Several Cache values on one folder stand for several processes.
	caches := make([]*Cache, 4)
	for i := range caches {
		caches[i], _ = NewCache(dir)
	}
	results := make([][]*Image, 16)
	var wg sync.WaitGroup
	for g := range results {
		wg.Go(func() {
			for _, s := range srcs {
				img, err := caches[g%len(caches)].Load(s, ShorterSideCrop, 32)
				if err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], img)
			}
		})
	}
	wg.Wait()
	for g := range results {
		for i := range srcs {
			if !equalImages(results[g][i], results[0][i]) {
				t.Fatalf("goroutine %d got a different image for %s", g, srcs[i])
			}
		}
	}
	files, temps := cacheFiles(t, dir)
	if len(files) != 3 || len(temps) != 0 {
		t.Errorf("%d cache files, %d temporaries left; want 3 and 0", len(files), len(temps))
	}
	fresh, _ := NewCache(dir)
	for i, s := range srcs {
		if img, err := fresh.Load(s, ShorterSideCrop, 32); err != nil || !equalImages(img, results[0][i]) {
			t.Fatalf("reading back %s: %v", s, err)
		}
	}
	if fresh.Decodes() != 0 {
		t.Errorf("entries written concurrently were not readable: %d decodes", fresh.Decodes())
	}
}

func TestCacheRebuildsCorruptFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "a.jpg")
	writeJPEG(t, src, 64, 64, 3)
	dir := t.TempDir()
	c, _ := NewCache(dir)
	want, err := c.Load(src, Squash, 24)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := cacheFiles(t, dir)
	file := files[0]
	good, _ := os.ReadFile(file)
	damage := map[string][]byte{
		"truncated":  good[:len(good)-10],
		"empty":      {},
		"bit flip":   append(append([]byte{}, good[:100]...), append([]byte{good[100] ^ 1}, good[101:]...)...),
		"bad header": append([]byte("NOTMAGIC"), good[8:]...),
		"wrong size": append(append([]byte{}, good[:8]...), append([]byte{23}, good[9:]...)...),
	}
	decodes := c.Decodes()
	for name, b := range damage {
		writeFile(t, file, b)
		got, err := c.Load(src, Squash, 24)
		if err != nil || !equalImages(got, want) {
			t.Fatalf("%s cache file: %v", name, err)
		}
		decodes++
		if c.Decodes() != decodes {
			t.Fatalf("%s cache file was not rebuilt", name)
		}
		if b, _ := os.ReadFile(file); string(b) != string(good) {
			t.Fatalf("%s cache file was not rewritten", name)
		}
	}
}

func TestCacheErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	c, _ := NewCache(t.TempDir())
	corrupt := filepath.Join(dir, "corrupt.jpg")
	writeFile(t, corrupt, []byte("\xff\xd8\xff\xdb garbage that is not a JPEG stream"))
	if _, err := c.Load(corrupt, Squash, 32); err == nil || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt JPEG: error %v should name %s", err, corrupt)
	}
	missing := filepath.Join(dir, "missing.jpg")
	if _, err := c.Load(missing, ShorterSideCrop, 32); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing image: error %v should name %s", err, missing)
	}
	if _, err := NewCache(""); err == nil {
		t.Error("NewCache(\"\") should fail")
	}
	blocker := filepath.Join(dir, "file")
	writeFile(t, blocker, []byte("x"))
	if _, err := NewCache(filepath.Join(blocker, "cache")); err == nil {
		t.Error("a cache folder under a file should fail")
	}
}
