package cuda

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wantUnavailable checks err is an ErrUnavailable whose message holds
// every fragment.
func wantUnavailable(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %q is not ErrUnavailable", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

// libDir makes a directory holding some of the emulator's libraries.
func libDir(t *testing.T, names ...string) string {
	dir := t.TempDir()
	for _, n := range names {
		if err := os.Symlink(filepath.Join(emulator(t), "libgridemu.so"), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadNamesTheMissingLibrary(t *testing.T) {
	cases := []struct {
		present []string
		want    []string
	}{
		{nil, []string{"the CUDA driver", "libcuda.so.1"}},
		{[]string{"libcuda.so.1"}, []string{"NVRTC", "libnvrtc.so.13", "libnvrtc.so.12"}},
		{[]string{"libcuda.so.1", "libnvrtc.so.12"}, []string{"cuBLASLt", "libcublasLt.so.12"}},
	}
	for _, c := range cases {
		dir := libDir(t, c.present...)
		_, err := Load(Options{Search: SearchPath{Dirs: []string{dir}}})
		wantUnavailable(t, err, append(c.want, dir, EnvLibPath)...)
	}
}

func TestLoadReportsWhyALibraryDidNotOpen(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "libcuda.so.1"), []byte(strings.Repeat("not a shared object\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{Search: SearchPath{Dirs: []string{dir}}})
	wantUnavailable(t, err, filepath.Join(dir, "libcuda.so.1"), "invalid ELF header")
}

func TestLoadNamesTheMissingSymbol(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "old.c")
	// A "driver" with cuInit but none of the functions after it.
	if err := os.WriteFile(src, []byte("int cuInit(unsigned f) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libcuda.so.1")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	_, err := Load(Options{Search: SearchPath{Dirs: []string{dir}}})
	wantUnavailable(t, err, lib, "cuDriverGetVersion", "too old")
	var se *SymbolError
	if !errors.As(err, &se) || se.Symbol != "cuDriverGetVersion" {
		t.Errorf("error %v is not a SymbolError for cuDriverGetVersion", err)
	}
}

func TestLoadDriverAndDeviceProblems(t *testing.T) {
	dir := emulator(t)
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"GRID_EMU_CUINIT": "100"}, []string{"cuInit", "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device"}},
		{map[string]string{"GRID_EMU_CUINIT": "34"}, []string{"CUDA_ERROR_STUB_LIBRARY", "stub"}},
		{map[string]string{"GRID_EMU_DRIVER_VERSION": "11080"}, []string{"NVIDIA driver", "11.8", "CUDA 12.0 or newer"}},
		{map[string]string{"GRID_EMU_NVRTC_VERSION": "13.0"}, []string{"NVRTC 13.0", "newer than the driver's CUDA 12.4", EnvLibPath}},
		{map[string]string{"GRID_EMU_NVRTC_VERSION": "11.8"}, []string{"NVRTC", "11.8", "NVRTC 12.0 or newer"}},
		{map[string]string{"GRID_EMU_CUBLASLT_VERSION": "130100"}, []string{"cuBLASLt 13.1.0", "newer than the driver"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.want[:1], ""), func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := Load(Options{Search: SearchPath{Dirs: []string{dir}}})
			wantUnavailable(t, err, c.want...)
		})
	}
}

func TestDevices(t *testing.T) {
	t.Setenv("GRID_EMU_DEVICES", "2")
	rt, err := Load(emuOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := rt.Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("%d devices, want 2", len(devs))
	}
	d := devs[1]
	if d.Ordinal != 1 || d.Name != "grid emulator 1" || d.Arch() != 90 || d.SMs != 4 || d.Memory != 16<<30 {
		t.Errorf("device 1 is %+v", d)
	}
	if d.UUID != "GPU-10111213-1415-1617-1819-1a1b1c1d1e1f" {
		t.Errorf("UUID %q", d.UUID)
	}
	if !strings.Contains(rt.String(), "NVRTC 12.4") || !strings.Contains(rt.String(), "cuBLASLt 12.4.0") {
		t.Errorf("runtime described as %q", rt.String())
	}
	if _, err := rt.Device(2); err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_INVALID_DEVICE") {
		t.Errorf("device 2 of 2: %v", err)
	}
}

// loadKernels loads the kernels of a precision on device 0 of a fresh
// runtime (a new process, as far as the in-memory caches go).
func loadKernels(t *testing.T, opts Options, p Precision) error {
	t.Helper()
	rt, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rt.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.module(p)
	if err == nil && len(m.funcs) != len(kernelNames(programSource())) {
		t.Errorf("%d kernels loaded", len(m.funcs))
	}
	return err
}

func mustLoadKernels(t *testing.T, opts Options, p Precision) {
	t.Helper()
	if err := loadKernels(t, opts, p); err != nil {
		t.Fatal(err)
	}
}

func TestKernelsAreCompiledOncePerArchitecture(t *testing.T) {
	opts := emuOptions(t)
	before := emuCounter(t, "grid_emu_compilations")
	mustLoadKernels(t, opts, FP16)
	mustLoadKernels(t, opts, FP16) // a new process: the disk cache
	if n := emuCounter(t, "grid_emu_compilations") - before; n != 1 {
		t.Errorf("two runtimes at one precision compiled %d times, want 1", n)
	}
	mustLoadKernels(t, opts, BF16)
	t.Setenv("GRID_EMU_ARCH", "80")
	mustLoadKernels(t, opts, FP16)
	if n := emuCounter(t, "grid_emu_compilations") - before; n != 3 {
		t.Errorf("another precision and another architecture: %d compilations in all, want 3", n)
	}
	entries, _ := os.ReadDir(opts.CacheDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 || !strings.HasSuffix(strings.Join(names, " "), ".cubin") || !strings.Contains(strings.Join(names, " "), "sm_80") {
		t.Errorf("cache holds %v, want 3 cubins, one for sm_80", names)
	}
}

func TestDamagedCacheEntryIsRecompiled(t *testing.T) {
	opts := emuOptions(t)
	mustLoadKernels(t, opts, FP32)
	entries, _ := os.ReadDir(opts.CacheDir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries", len(entries))
	}
	path := filepath.Join(opts.CacheDir, entries[0].Name())
	if err := os.WriteFile(path, []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := emuCounter(t, "grid_emu_compilations")
	mustLoadKernels(t, opts, FP32)
	if n := emuCounter(t, "grid_emu_compilations") - before; n != 1 {
		t.Errorf("a damaged entry led to %d compilations, want 1", n)
	}
	if b, _ := os.ReadFile(path); string(b) == "truncated" {
		t.Error("the damaged entry was not replaced")
	}
}

func TestUnwritableCacheStillRuns(t *testing.T) {
	opts := emuOptions(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	opts.CacheDir = filepath.Join(file, "cuda") // under a regular file: never creatable
	mustLoadKernels(t, opts, FP32)
}

func TestNewerGPUThanNVRTCGetsPTX(t *testing.T) {
	opts := emuOptions(t)
	t.Setenv("GRID_EMU_ARCH", "100")
	mustLoadKernels(t, opts, FP32)
	entries, _ := os.ReadDir(opts.CacheDir)
	if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), "compute_90.ptx") {
		t.Errorf("cache holds %v, want PTX for compute_90", entries)
	}
	t.Setenv("GRID_EMU_ARCH", "70")
	wantUnavailable(t, loadKernels(t, opts, FP32), "sm_70", "sm_75..sm_90")
}

func TestCompileErrorShowsTheLog(t *testing.T) {
	opts := emuOptions(t)
	t.Setenv("GRID_EMU_NVRTC_FAIL", "attention.cu(12): error: identifier \"x\" is undefined")
	err := loadKernels(t, opts, FP32)
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `attention.cu(12): error: identifier "x"`) || ce.Arch != "sm_90" {
		t.Errorf("got %v, want a CompileError with the log", err)
	}
}

func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]Precision{"": FP32, "fp32": FP32, "fp16": FP16, "bf16": BF16} {
		if p, err := ParsePrecision(s); err != nil || p != want {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePrecision("fp8"); err == nil || !strings.Contains(err.Error(), "fp32, fp16 or bf16") {
		t.Errorf("fp8: %v", err)
	}
}
