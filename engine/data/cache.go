package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Cache keeps decoded, resized images on disk so that each source image is
// decoded once per machine, whichever job or worker process asks first.
// Train images are stored squashed to size×size (ResizeMode Squash), test
// images resized and centre-cropped to size×size (ShorterSideCrop); the
// random augmentation is applied after loading, never cached.
//
// A file is named by a hash of (absolute source path, source size, source
// mtime, resize mode, size), so an edited source gets a new entry. Files are
// written to a temporary name and renamed into place, so concurrent builders
// (goroutines or processes) are safe: the last rename wins and all of them
// wrote the same bytes. Each file carries its size and a CRC-32 of the pixels;
// a truncated or corrupt file is decoded again and replaced.
//
// File layout: "GRIDRGB1", width and height (uint32 little endian), CRC-32
// (IEEE) of the pixels, then width*height*3 RGB bytes.
type Cache struct {
	dir     string
	decodes atomic.Int64
}

const (
	cacheMagic     = "GRIDRGB1"
	cacheHeaderLen = len(cacheMagic) + 12
	cacheVersion   = "1" // part of the key: bump when the pipeline's bytes change
)

// NewCache opens (creating it if needed) a cache directory.
func NewCache(dir string) (*Cache, error) {
	if dir == "" {
		return nil, fmt.Errorf("image cache: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return &Cache{dir: abs}, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Decodes counts the source images this Cache value has decoded (cache
// misses), for tests and statistics.
func (c *Cache) Decodes() int64 { return c.decodes.Load() }

// Load returns the size×size image for path under mode, from the cache or by
// decoding and resizing the source (then storing it). Errors name the source
// path (a missing, unreadable or corrupt image is never skipped) or the cache
// file that could not be written.
func (c *Cache) Load(path string, mode ResizeMode, size int) (*Image, error) {
	if mode != Squash && mode != ShorterSideCrop {
		return nil, fmt.Errorf("image cache: unknown resize mode %d", mode)
	}
	if size <= 0 {
		return nil, fmt.Errorf("image cache: size %d", size)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	file := c.file(abs, st.Size(), st.ModTime().UnixNano(), mode, size)
	if b, err := os.ReadFile(file); err == nil {
		if img, ok := parseCached(b, size); ok {
			return img, nil
		}
	}
	src, err := DecodeFile(abs)
	if err != nil {
		return nil, err
	}
	c.decodes.Add(1)
	img := Prepare(src, mode, size)
	if err := writeRebuildable(file, encodeCached(img)); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return img, nil
}

// file is the cache path of one (source, mode, size): <dir>/<2 hex>/<hex>.rgb.
func (c *Cache) file(abs string, srcSize, mtime int64, mode ResizeMode, size int) string {
	key := fmt.Sprintf("v%s\x00%s\x00%d\x00%d\x00%d\x00%d", cacheVersion, abs, srcSize, mtime, mode, size)
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:20])
	return filepath.Join(c.dir, name[:2], name+".rgb")
}

func encodeCached(img *Image) []byte {
	b := make([]byte, cacheHeaderLen+len(img.Pix))
	copy(b, cacheMagic)
	binary.LittleEndian.PutUint32(b[8:], uint32(img.Width))
	binary.LittleEndian.PutUint32(b[12:], uint32(img.Height))
	binary.LittleEndian.PutUint32(b[16:], crc32.ChecksumIEEE(img.Pix))
	copy(b[cacheHeaderLen:], img.Pix)
	return b
}

// parseCached checks a cache file: magic, the expected size×size, the exact
// length and the pixel checksum.
func parseCached(b []byte, size int) (*Image, bool) {
	if len(b) < cacheHeaderLen || !bytes.Equal(b[:8], []byte(cacheMagic)) {
		return nil, false
	}
	w := int(binary.LittleEndian.Uint32(b[8:]))
	h := int(binary.LittleEndian.Uint32(b[12:]))
	if w != size || h != size || len(b) != cacheHeaderLen+w*h*3 {
		return nil, false
	}
	pix := b[cacheHeaderLen:]
	if crc32.ChecksumIEEE(pix) != binary.LittleEndian.Uint32(b[16:]) {
		return nil, false
	}
	return &Image{Width: w, Height: h, Pix: pix}, true
}
