package cpu

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// describeDevice names the processor (from /proc/cpuinfo where there is
// one), the widest vector extension it has and the threads the operations
// use (GOMAXPROCS when the backend is made): "AMD EPYC 9B45 (AVX-512), 2
// threads".
func describeDevice() string {
	name := processorName()
	if name == "" {
		name = runtime.GOARCH
	}
	if ext := vectorExtension(); ext != "" {
		name += " (" + ext + ")"
	}
	return fmt.Sprintf("%s, %d threads", name, maxWorkers())
}

func processorName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

func vectorExtension() string {
	switch {
	case cpu.X86.HasAVX512F:
		return "AVX-512"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return "AVX2+FMA"
	case cpu.ARM64.HasASIMD:
		return "NEON"
	}
	return ""
}
