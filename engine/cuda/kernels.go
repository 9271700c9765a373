package cuda

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
)

// kernelFS holds the CUDA C sources of every kernel, compiled at run time by
// NVRTC (see kernels/prelude.cuh for the conventions).
//
//go:embed kernels/*.cu kernels/*.cuh
var kernelFS embed.FS

// kernelFiles are the sources after the prelude, in the order they are
// concatenated into one program.
var kernelFiles = []string{"elementwise.cu", "layernorm.cu", "attention.cu", "rows.cu", "loss.cu"}

// programSource is the one NVRTC program: the prelude, then every kernel
// file, each introduced by a #line directive so that compiler messages name
// the file and line they concern.
func programSource() string {
	var b strings.Builder
	for _, name := range append([]string{"prelude.cuh"}, kernelFiles...) {
		src, err := kernelFS.ReadFile("kernels/" + name)
		if err != nil {
			panic("cuda: embedded kernel source missing: " + name) // a build defect
		}
		fmt.Fprintf(&b, "#line 1 %q\n%s\n", name, src)
	}
	return b.String()
}

var kernelDecl = regexp.MustCompile(`extern "C" __global__ void (\w+)\(`)

// kernelNames lists the kernels a program defines.
func kernelNames(src string) []string {
	var names []string
	for _, m := range kernelDecl.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
	}
	return names
}

// sharedMemoryKernels need more dynamic shared memory than the default 48
// KiB for long sequences; their limit is raised to the device's maximum.
var sharedMemoryKernels = []string{"attention_forward", "attention_backward_query", "attention_backward_keys"}

// Precision is the storage type of a Backend's Float32 buffers and the
// input type of its GEMMs. Arithmetic is fp32 in every case: GEMMs
// accumulate in fp32, LayerNorm and softmax statistics are fp32.
type Precision uint8

const (
	FP32 Precision = iota // fp32 storage, fp32 GEMMs (TF32 only if asked)
	FP16                  // fp16 storage and GEMM inputs, as the seed's PREC=fp16
	BF16                  // bf16 storage and GEMM inputs
)

var precisionNames = [...]string{FP32: "fp32", FP16: "fp16", BF16: "bf16"}

// ParsePrecision maps "fp32" (or ""), "fp16" and "bf16" to a Precision.
func ParsePrecision(s string) (Precision, error) {
	if s == "" {
		return FP32, nil
	}
	for p, name := range precisionNames {
		if name == s {
			return Precision(p), nil
		}
	}
	return 0, fmt.Errorf("cuda: unknown precision %q (want fp32, fp16 or bf16)", s)
}

func (p Precision) String() string { return precisionNames[p] }

// elemSize is the bytes of one stored element.
func (p Precision) elemSize() int {
	if p == FP32 {
		return 4
	}
	return 2
}

// dataType is the cudaDataType_t of the storage.
func (p Precision) dataType() int {
	switch p {
	case FP16:
		return cudaR16F
	case BF16:
		return cudaR16BF
	}
	return cudaR32F
}

// options are the NVRTC options that select the storage type.
func (p Precision) options() []string {
	opts := []string{"--std=c++17"}
	switch p {
	case FP16:
		opts = append(opts, "-DGRID_ACT_F16")
	case BF16:
		opts = append(opts, "-DGRID_ACT_BF16")
	}
	return opts
}
