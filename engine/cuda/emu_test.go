package cuda

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
)

// Most tests of this package run against an emulated GPU: testdata/emu,
// built here by the host C++ compiler into a library that answers as
// libcuda.so.1, libnvrtc.so.12 and libcublasLt.so.12, plus the embedded
// kernel sources compiled for the host once per precision. So the whole
// path (library loading, NVRTC and the kernel cache, module loading,
// launches with their arguments, graphs, cuBLASLt descriptors, and the
// kernels' arithmetic) runs on a machine without a GPU. What it cannot show
// is how real hardware and real NVIDIA libraries behave: that is the
// device check's job (engine/cuda/gpucheck).

var emu struct {
	once sync.Once
	dir  string
	err  error
}

// emulator returns the directory of the built emulator, building it on
// first use.
func emulator(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("no g++: the emulated GPU is built with the host C++ compiler")
	}
	emu.once.Do(func() { emu.dir, emu.err = buildEmulator() })
	if emu.err != nil {
		t.Fatal(emu.err)
	}
	return emu.dir
}

// envKeepEmulator names a directory the emulator is built into and left
// in, so that other packages' tests can run on it:
//
//	GRID_CUDA_EMU_KEEP=/tmp/emu go test -run TestKernelsCompile ./engine/cuda
//	GRID_CUDA_LIB_PATH=/tmp/emu GRID_EMU_DIR=/tmp/emu go test ./engine/golden
const envKeepEmulator = "GRID_CUDA_EMU_KEEP"

func TestMain(m *testing.M) {
	code := m.Run()
	if emu.dir != "" && os.Getenv(envKeepEmulator) == "" {
		os.RemoveAll(emu.dir)
	}
	os.Exit(code)
}

// gxx compiles with the flags every emulator part uses: -ffp-contract=off
// keeps the host from fusing multiply-adds the kernels round separately.
func gxx(args ...string) error {
	cmd := exec.Command("g++", append([]string{"-std=c++17", "-O2", "-fPIC", "-shared", "-ffp-contract=off",
		"-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror", "-Itestdata/emu"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("g++ %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func buildEmulator() (string, error) {
	dir, err := os.MkdirTemp("", "grid-cuda-emu-")
	if keep := os.Getenv(envKeepEmulator); keep != "" {
		dir, err = keep, os.MkdirAll(keep, 0o755)
	}
	if err != nil {
		return "", err
	}
	src := programSource()
	var reg strings.Builder
	reg.WriteString("#include \"emu.h\"\n#include \"emu_kernel.h\"\n")
	reg.WriteString(src)
	for _, name := range kernelNames(src) {
		fmt.Fprintf(&reg, "GRID_EMU_KERNEL(%s)\n", name)
	}
	kernels := filepath.Join(dir, "kernels.cpp")
	if err := os.WriteFile(kernels, []byte(reg.String()), 0o644); err != nil {
		return "", err
	}
	// The kernels link against the runtime (its fiber scheduler and
	// intrinsics), found beside them.
	if err := gxx("-o", filepath.Join(dir, "libgridemu.so"), "testdata/emu/emu_runtime.cpp", "-ldl"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	errs := make(chan error, 3)
	for _, p := range []Precision{FP32, FP16, BF16} {
		args := append(p.options()[1:], "-o", filepath.Join(dir, "kernels_"+p.String()+".so"), kernels,
			"-L"+dir, "-l:libgridemu.so", "-Wl,-rpath,$ORIGIN")
		go func() { errs <- gxx(args...) }()
	}
	for range 3 {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	for _, name := range []string{"libcuda.so.1", "libnvrtc.so.12", "libcublasLt.so.12"} {
		os.Remove(filepath.Join(dir, name)) // a kept directory built before
		if err := os.Symlink("libgridemu.so", filepath.Join(dir, name)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// emuOptions opens the emulator only (no system library), with a kernel
// cache in a fresh directory, and points the emulated driver at the
// host-compiled kernels.
func emuOptions(t *testing.T) Options {
	dir := emulator(t)
	t.Setenv("GRID_EMU_DIR", dir)
	return Options{Search: SearchPath{Dirs: []string{dir}}, CacheDir: t.TempDir()}
}

// emuCounter reads one of the emulator's counters (grid_emu_compilations,
// grid_emu_launches).
func emuCounter(t *testing.T, name string) int {
	t.Helper()
	h, err := purego.Dlopen(filepath.Join(emulator(t), "libgridemu.so"), purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := purego.Dlsym(h, name)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := purego.SyscallN(fn)
	return int(r)
}

// TestKernelsCompileWithTheHostCompiler is the kernels' syntax and type
// check on a machine without NVRTC: the embedded program, at every
// precision, must build with g++ -Wall -Wextra -Werror against emu.h.
func TestKernelsCompileWithTheHostCompiler(t *testing.T) {
	dir := emulator(t)
	for _, p := range []Precision{FP32, FP16, BF16} {
		if _, err := os.Stat(filepath.Join(dir, "kernels_"+p.String()+".so")); err != nil {
			t.Error(err)
		}
	}
	if n := len(kernelNames(programSource())); n < 20 {
		t.Errorf("the program defines %d kernels", n)
	}
}
