package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvCacheDir is the directory of grid's caches; compiled kernels go to its
// cuda/ subdirectory. Unset, it is the user cache directory's grid/.
const EnvCacheDir = "GRID_CACHE_DIR"

// DefaultCacheDir is where compiled kernels are kept: $GRID_CACHE_DIR/cuda,
// else ~/.cache/grid/cuda.
func DefaultCacheDir() string {
	dir := os.Getenv(EnvCacheDir)
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "grid")
		} else {
			dir = filepath.Join(os.TempDir(), "grid-cache")
		}
	}
	return filepath.Join(dir, "cuda")
}

// kernelCache keeps NVRTC's output on disk, so that a worker compiles each
// kernel source once per GPU architecture and NVRTC version, not once per
// process. An entry's name is a hash of everything that decides its
// content, so a changed source, option, architecture or compiler simply
// misses; entries are written atomically, so concurrent workers at worst
// compile the same thing twice.
type kernelCache struct {
	dir string // "" disables the cache
}

// cacheKey names the compiled form of src for a target.
func cacheKey(src string, t target, options []string, compiler string) string {
	h := sha256.New()
	for _, part := range []string{src, t.option(), strings.Join(options, "\x00"), compiler} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	ext := ".cubin"
	if t.ptx {
		ext = ".ptx"
	}
	return hex.EncodeToString(h.Sum(nil)[:16]) + "-" + strings.TrimPrefix(t.option(), "--gpu-architecture=") + ext
}

// get returns a cached image, or nil.
func (c kernelCache) get(key string) []byte {
	if c.dir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dir, key))
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// put stores an image atomically. A cache that cannot be written is not an
// error: the kernels are compiled again next time.
func (c kernelCache) put(key string, image []byte) error {
	if c.dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, key+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(image)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cuda: kernel cache %s: write: %v %v", c.dir, werr, cerr)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(c.dir, key)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// drop removes an entry the driver refused to load (truncated by a full
// disk, written by a broken compiler).
func (c kernelCache) drop(key string) {
	if c.dir != "" {
		os.Remove(filepath.Join(c.dir, key))
	}
}
