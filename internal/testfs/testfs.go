// Package testfs gives tests a small filesystem of their own, so that they
// can fill it and watch grid meet a full disk for real (ENOSPC from the
// kernel, not a mock). It mounts a tmpfs with a size limit, which needs root
// (or CAP_SYS_ADMIN). Where mounting is impossible the test is skipped with
// the reason, except under CI=true: CI runs as root, so there a refused
// mount fails the test instead of hiding it.
package testfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Small mounts a tmpfs of size bytes on a fresh directory and returns it;
// it is unmounted when the test ends.
func Small(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		unavailable(t, "mounting a small tmpfs needs root; run as root (CI does) to inject a full disk")
	}
	opts := fmt.Sprintf("size=%d,mode=0755", size)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		unavailable(t, fmt.Sprintf("mount -t tmpfs -o %s: %v (a container without CAP_SYS_ADMIN?)", opts, err))
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but no small filesystem for the full-disk test: %s", why)
	}
	t.Skip("no full-disk injection: " + why)
}

// Fill writes a ballast file in dir until the filesystem is full, and
// returns a function that frees the space again.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}
