// emu_kernel.h: how a host-compiled kernel is exposed to the emulated
// driver. GRID_EMU_KERNEL(name) exports grid_emu_kernel_<name>, which
// cuModuleGetFunction looks up: a function that unpacks cuLaunchKernel's
// kernelParams and calls the kernel, and the sizes of its parameters (so
// that a captured launch can copy them).
#pragma once
#include <cstddef>
#include <cstring>
#include <utility>

struct GridEmuKernel {
    void (*run)(void** params);
    size_t (*param_sizes)(size_t* sizes);  // writes one size per parameter, returns the count
};

template <typename... A, size_t... I>
static void grid_emu_call_seq(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<A*>(p[I])...);
}

template <typename... A>
static void grid_emu_call(void (*f)(A...), void** p) {
    grid_emu_call_seq(f, p, std::index_sequence_for<A...>{});
}

template <typename... A>
static size_t grid_emu_param_sizes(void (*)(A...), size_t* out) {
    const size_t sizes[] = {sizeof(A)..., 0};
    std::memcpy(out, sizes, sizeof...(A) * sizeof(size_t));
    return sizeof...(A);
}

#define GRID_EMU_KERNEL(name)                                                                          \
    static void grid_emu_run_##name(void** p) { grid_emu_call(name, p); }                               \
    static size_t grid_emu_sizes_##name(size_t* s) { return grid_emu_param_sizes(name, s); }            \
    extern "C" {                                                                                        \
    extern const GridEmuKernel grid_emu_kernel_##name;                                                  \
    const GridEmuKernel grid_emu_kernel_##name = {grid_emu_run_##name, grid_emu_sizes_##name};          \
    }
