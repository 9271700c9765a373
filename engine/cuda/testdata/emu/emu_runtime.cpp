// emu_runtime.cpp: a CUDA device emulated on the host, for grid's tests on
// machines without a GPU. Built as one shared library and installed under
// the names libcuda.so.1, libnvrtc.so.12 and libcublasLt.so.12, it exports
// the driver API, NVRTC and cuBLASLt functions engine/cuda calls:
//
//   - memory is host memory (device pointers are host pointers);
//   - NVRTC "compiles" by naming the storage type in the image it returns;
//     cuModuleLoadData then opens kernels_<type>.so from $GRID_EMU_DIR (the
//     same kernel sources built by the host compiler with emu.h);
//   - a launch runs each block's threads as fibers (x86-64), switching at
//     __syncthreads and warp shuffles;
//   - streams are synchronous; stream capture records launches, copies,
//     memsets and matmuls into a graph that cuGraphLaunch replays;
//   - cublasLtMatmul is a plain loop with fp32 accumulation.
//
// Environment knobs let tests provoke failures: GRID_EMU_CUINIT (cuInit's
// result), GRID_EMU_DRIVER_VERSION, GRID_EMU_DEVICES, GRID_EMU_ARCH,
// GRID_EMU_NVRTC_VERSION, GRID_EMU_NVRTC_ARCHS, GRID_EMU_NVRTC_FAIL,
// GRID_EMU_CUBLASLT_VERSION, GRID_EMU_MEMORY, GRID_EMU_LAUNCH_FAIL,
// GRID_EMU_NO_ALGO (cuBLASLt's heuristic finds no algorithm).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "emu.h"
#include "emu_kernel.h"

typedef int CUresult;

static long env_long(const char* name, long def) {
    const char* v = getenv(name);
    return v && *v ? strtol(v, nullptr, 10) : def;
}

// ---------------------------------------------------------------- fibers

grid_emu_dim3 grid_emu_threadIdx, grid_emu_blockIdx, grid_emu_blockDim, grid_emu_gridDim;

enum { RUNNING, AT_BLOCK_BARRIER, AT_WARP_BARRIER, FINISHED };

// A fiber is a stack and a saved stack pointer; grid_emu_switch saves the
// callee-saved registers on the current stack, stores its pointer and
// resumes another. (ucontext's swapcontext would also save the signal mask,
// a system call per switch.)
struct Fiber {
    void* sp;
    int state;
};

extern "C" void grid_emu_switch(void** save_sp, void* to_sp);
asm(R"(
    .text
    .p2align 4
    .hidden grid_emu_switch
    .type grid_emu_switch,@function
grid_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size grid_emu_switch, .-grid_emu_switch
)");

static const int kMaxThreads = 1024;
static const size_t kStack = 64 << 10;
static char* g_stacks;  // kMaxThreads stacks, allocated on first launch (untouched pages cost nothing)
static Fiber g_fibers[kMaxThreads];
static float g_shuffle[kMaxThreads];
static void* g_scheduler_sp;
static int g_current, g_nthreads;
static std::vector<unsigned char> g_smem;
static const GridEmuKernel* g_kernel;
static void** g_params;
static std::recursive_mutex g_mu;  // one launch at a time
static long g_launches, g_compilations, g_graph_launches;

extern "C" void* grid_emu_dynamic_smem(void) { return g_smem.data(); }

static void yield_with(int state) {
    g_fibers[g_current].state = state;
    grid_emu_switch(&g_fibers[g_current].sp, g_scheduler_sp);
}

extern "C" void grid_emu_syncthreads(void) { yield_with(AT_BLOCK_BARRIER); }

extern "C" float grid_emu_shfl_xor(float v, int lane_mask) {
    g_shuffle[g_current] = v;
    yield_with(AT_WARP_BARRIER);
    float r = g_shuffle[g_current ^ lane_mask];
    yield_with(AT_WARP_BARRIER);
    return r;
}

// fiber_entry is where a new fiber starts; it never returns, it switches
// back to the scheduler for good.
static void fiber_entry() {
    g_kernel->run(g_params);
    yield_with(FINISHED);
}

// new_fiber_stack lays out a stack whose first switch "returns" into
// fiber_entry with the alignment of a function entry.
static void* new_fiber_stack(int t) {
    uintptr_t top = (uintptr_t)(g_stacks + (size_t)(t + 1) * kStack) & ~(uintptr_t)15;
    void** sp = (void**)(top - 16);
    sp[0] = (void*)fiber_entry;  // popped by ret
    for (int i = 1; i <= 6; i++) sp[-i] = nullptr;  // the callee-saved registers
    return (void*)(sp - 6);
}

static void set_thread(int t) {
    unsigned bx = grid_emu_blockDim.x, by = grid_emu_blockDim.y;
    grid_emu_threadIdx = {t % bx, (t / bx) % by, t / (bx * by)};
}

// release wakes the threads waiting at a barrier everyone alive has reached;
// false means no thread can move again (a barrier some threads skip).
static bool release() {
    bool any = false;
    for (int w = 0; w * 32 < g_nthreads; w++) {
        int lo = w * 32, hi = lo + 32 < g_nthreads ? lo + 32 : g_nthreads;
        bool all = true, some = false;
        for (int t = lo; t < hi; t++) {
            if (g_fibers[t].state == FINISHED) continue;
            all &= g_fibers[t].state == AT_WARP_BARRIER;
            some |= g_fibers[t].state == AT_WARP_BARRIER;
        }
        if (all && some) {
            for (int t = lo; t < hi; t++)
                if (g_fibers[t].state == AT_WARP_BARRIER) g_fibers[t].state = RUNNING;
            any = true;
        }
    }
    if (any) return true;
    bool all = true, some = false;
    for (int t = 0; t < g_nthreads; t++) {
        if (g_fibers[t].state == FINISHED) continue;
        all &= g_fibers[t].state == AT_BLOCK_BARRIER;
        some = true;
    }
    if (!some) return true;  // every thread finished
    if (!all) return false;
    for (int t = 0; t < g_nthreads; t++)
        if (g_fibers[t].state == AT_BLOCK_BARRIER) g_fibers[t].state = RUNNING;
    return true;
}

static void run_block() {
    for (int t = 0; t < g_nthreads; t++) {
        g_fibers[t].sp = new_fiber_stack(t);
        g_fibers[t].state = RUNNING;
    }
    for (;;) {
        bool running = false;
        for (int t = 0; t < g_nthreads; t++) {
            if (g_fibers[t].state != RUNNING) continue;
            running = true;
            g_current = t;
            set_thread(t);
            grid_emu_switch(&g_scheduler_sp, g_fibers[t].sp);
        }
        bool done = true;
        for (int t = 0; t < g_nthreads; t++) done &= g_fibers[t].state == FINISHED;
        if (done) return;
        if (!release() && !running) {
            fprintf(stderr, "grid emu: deadlock: threads wait at a barrier others never reach\n");
            abort();
        }
    }
}

static void launch(const GridEmuKernel* k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned smem, void** params) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    g_launches++;
    g_nthreads = bx * by * bz;
    if (g_nthreads < 1 || g_nthreads > kMaxThreads) {
        fprintf(stderr, "grid emu: block of %d threads\n", g_nthreads);
        abort();
    }
    if (!g_stacks) g_stacks = (char*)malloc((size_t)kMaxThreads * kStack);
    g_kernel = k;
    g_params = params;
    grid_emu_gridDim = {gx, gy, gz};
    grid_emu_blockDim = {bx, by, bz};
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++) {
                grid_emu_blockIdx = {x, y, z};
                // Shared memory starts as NaNs, so reading it before writing shows.
                g_smem.assign(smem + 16, 0xff);
                run_block();
            }
}

extern "C" unsigned short grid_emu_float_to_half(float x) {
    _Float16 h = (_Float16)x;
    unsigned short u;
    memcpy(&u, &h, 2);
    return u;
}

extern "C" float grid_emu_half_to_float(unsigned short u) {
    _Float16 h;
    memcpy(&h, &u, 2);
    return (float)h;
}

// Counters for tests: kernel launches, NVRTC compilations and graph
// launches so far.
extern "C" long grid_emu_launches(void) { return g_launches; }
extern "C" long grid_emu_compilations(void) { return g_compilations; }
extern "C" long grid_emu_graph_launches(void) { return g_graph_launches; }

// ---------------------------------------------------------------- streams and graphs

struct Graph {
    std::vector<std::function<void()>> nodes;
};

struct Stream {
    Graph* capture = nullptr;
};

// enqueue runs op now, or records it when the stream is being captured.
static void enqueue(void* stream, std::function<void()> op) {
    Stream* s = (Stream*)stream;
    if (s && s->capture) {
        s->capture->nodes.push_back(std::move(op));
        return;
    }
    op();
}

// ---------------------------------------------------------------- driver API

static std::map<void*, size_t> g_allocations;
static size_t g_allocated;

extern "C" {

CUresult cuInit(unsigned int) { return (CUresult)env_long("GRID_EMU_CUINIT", 0); }
CUresult cuDriverGetVersion(int* v) {
    *v = (int)env_long("GRID_EMU_DRIVER_VERSION", 12040);
    return 0;
}

static const char* error_name(CUresult r) {
    switch (r) {
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 34: return "CUDA_ERROR_STUB_LIBRARY";
    case 100: return "CUDA_ERROR_NO_DEVICE";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    case 719: return "CUDA_ERROR_LAUNCH_FAILED";
    }
    return nullptr;
}

CUresult cuGetErrorName(CUresult r, const char** s) {
    *s = error_name(r);
    return *s ? 0 : 1;
}

CUresult cuGetErrorString(CUresult r, const char** s) {
    switch (r) {
    case 100: *s = "no CUDA-capable device is detected"; return 0;
    case 2: *s = "out of memory"; return 0;
    }
    *s = error_name(r);
    return *s ? 0 : 1;
}

CUresult cuDeviceGetCount(int* n) {
    *n = (int)env_long("GRID_EMU_DEVICES", 1);
    return 0;
}

CUresult cuDeviceGet(int* dev, int ordinal) {
    if (ordinal < 0 || ordinal >= env_long("GRID_EMU_DEVICES", 1)) return 101;
    *dev = ordinal;
    return 0;
}

CUresult cuDeviceGetName(char* name, int len, int dev) {
    snprintf(name, len, "grid emulator %d", dev);
    return 0;
}

CUresult cuDeviceGetAttribute(int* v, int attr, int) {
    long arch = env_long("GRID_EMU_ARCH", 90);
    switch (attr) {
    case 16: *v = 4; return 0;                 // multiprocessors
    case 75: *v = (int)(arch / 10); return 0;  // compute capability
    case 76: *v = (int)(arch % 10); return 0;
    case 97: *v = 227 << 10; return 0;  // shared memory per block, opt-in
    }
    return 1;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, int) {
    *bytes = (size_t)env_long("GRID_EMU_MEMORY", 16L << 30);
    return 0;
}

CUresult cuDeviceGetUuid_v2(unsigned char* uuid, int dev) {
    for (int i = 0; i < 16; i++) uuid[i] = (unsigned char)(0x10 * dev + i);
    return 0;
}

static int g_context;
CUresult cuDevicePrimaryCtxRetain(void** ctx, int) {
    *ctx = &g_context;
    return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(int) { return 0; }
CUresult cuCtxSetCurrent(void*) { return 0; }
CUresult cuCtxSynchronize(void) { return 0; }

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    *total = (size_t)env_long("GRID_EMU_MEMORY", 16L << 30);
    *free = *total - g_allocated;
    return 0;
}

CUresult cuMemAlloc_v2(unsigned long long* ptr, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (g_allocated + bytes > (size_t)env_long("GRID_EMU_MEMORY", 16L << 30)) return 2;
    void* p = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    memset(p, 0xa5, bytes);  // garbage, as cuMemAlloc's memory is
    g_allocations[p] = bytes;
    g_allocated += bytes;
    *ptr = (unsigned long long)p;
    return 0;
}

CUresult cuMemFree_v2(unsigned long long ptr) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    auto it = g_allocations.find((void*)ptr);
    if (it == g_allocations.end()) return 1;
    g_allocated -= it->second;
    g_allocations.erase(it);
    free((void*)ptr);
    return 0;
}

CUresult cuMemHostAlloc(void** p, size_t bytes, unsigned int) {
    *p = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    return 0;
}
CUresult cuMemFreeHost(void* p) {
    free(p);
    return 0;
}

CUresult cuMemcpyHtoDAsync_v2(unsigned long long dst, const void* src, size_t n, void* stream) {
    enqueue(stream, [=] { memcpy((void*)dst, src, n); });
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, unsigned long long src, size_t n, void* stream) {
    enqueue(stream, [=] { memcpy(dst, (const void*)src, n); });
    return 0;
}
CUresult cuMemcpyDtoDAsync_v2(unsigned long long dst, unsigned long long src, size_t n, void* stream) {
    enqueue(stream, [=] { memmove((void*)dst, (const void*)src, n); });
    return 0;
}
CUresult cuMemsetD8Async(unsigned long long dst, unsigned char v, size_t n, void* stream) {
    enqueue(stream, [=] { memset((void*)dst, v, n); });
    return 0;
}

CUresult cuStreamCreate(void** s, unsigned int) {
    *s = new Stream;
    return 0;
}
CUresult cuStreamDestroy_v2(void* s) {
    delete (Stream*)s;
    return 0;
}
CUresult cuStreamSynchronize(void* s) { return s && ((Stream*)s)->capture ? 900 : 0; }
CUresult cuStreamWaitEvent(void*, void*, unsigned int) { return 0; }

CUresult cuEventCreate(void** e, unsigned int) {
    *e = new int;
    return 0;
}
CUresult cuEventRecord(void*, void*) { return 0; }
CUresult cuEventSynchronize(void*) { return 0; }
CUresult cuEventDestroy_v2(void* e) {
    delete (int*)e;
    return 0;
}
CUresult cuEventElapsedTime(float* ms, void*, void*) {
    *ms = 0;
    return 0;
}

struct Module {
    void* so;
};

CUresult cuModuleLoadData(void** mod, const void* image) {
    const char* img = (const char*)image;
    const char* prefix = "GRIDEMU ";
    if (strncmp(img, prefix, strlen(prefix)) != 0) return 200;  // CUDA_ERROR_INVALID_IMAGE
    std::string variant(img + strlen(prefix));
    variant = variant.substr(0, variant.find('\n'));
    const char* dir = getenv("GRID_EMU_DIR");
    std::string path = std::string(dir ? dir : ".") + "/kernels_" + variant + ".so";
    void* so = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "grid emu: %s\n", dlerror());
        return 200;
    }
    *mod = new Module{so};
    return 0;
}

CUresult cuModuleUnload(void* mod) {
    delete (Module*)mod;
    return 0;
}

CUresult cuModuleGetFunction(void** fn, void* mod, const char* name) {
    std::string sym = std::string("grid_emu_kernel_") + name;
    void* k = dlsym(((Module*)mod)->so, sym.c_str());
    if (!k) return 500;
    *fn = k;
    return 0;
}

CUresult cuFuncSetAttribute(void*, int, int) { return 0; }

CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, void* stream, void** params, void** extra) {
    if (extra) return 1;
    if (getenv("GRID_EMU_LAUNCH_FAIL")) return 719;  // CUDA_ERROR_LAUNCH_FAILED
    const GridEmuKernel* k = (const GridEmuKernel*)fn;
    // Copy the parameters now: the caller may reuse its buffer at once.
    size_t sizes[64];
    size_t n = k->param_sizes(sizes);
    auto copies = std::make_shared<std::vector<std::vector<char>>>();
    for (size_t i = 0; i < n; i++) copies->emplace_back((char*)params[i], (char*)params[i] + sizes[i]);
    enqueue(stream, [=] {
        std::vector<void*> ptrs;
        for (auto& c : *copies) ptrs.push_back(c.data());
        launch(k, gx, gy, gz, bx, by, bz, smem, ptrs.data());
    });
    return 0;
}

CUresult cuStreamBeginCapture_v2(void* stream, int) {
    Stream* s = (Stream*)stream;
    if (s->capture) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    s->capture = new Graph;
    return 0;
}

CUresult cuStreamEndCapture(void* stream, void** graph) {
    Stream* s = (Stream*)stream;
    if (!s->capture) return 901;
    *graph = s->capture;
    s->capture = nullptr;
    return 0;
}

CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) {
    *exec = new Graph(*(Graph*)graph);
    return 0;
}

CUresult cuGraphLaunch(void* exec, void* stream) {
    Graph* g = (Graph*)exec;
    g_graph_launches++;
    enqueue(stream, [g] {
        for (auto& op : g->nodes) op();
    });
    return 0;
}

CUresult cuGraphExecDestroy(void* exec) {
    delete (Graph*)exec;
    return 0;
}
CUresult cuGraphDestroy(void* graph) {
    delete (Graph*)graph;
    return 0;
}

// ---------------------------------------------------------------- NVRTC

struct Program {
    std::string source, variant;
};

int nvrtcVersion(int* major, int* minor) {
    const char* v = getenv("GRID_EMU_NVRTC_VERSION");
    if (!v || sscanf(v, "%d.%d", major, minor) != 2) *major = 12, *minor = 4;
    return 0;
}

static std::vector<int> nvrtc_archs() {
    std::vector<int> archs;
    const char* v = getenv("GRID_EMU_NVRTC_ARCHS");
    std::string s = v ? v : "75,80,86,89,90";
    for (size_t i = 0; i < s.size();) {
        archs.push_back(atoi(s.c_str() + i));
        size_t c = s.find(',', i);
        i = c == std::string::npos ? s.size() : c + 1;
    }
    return archs;
}

int nvrtcGetNumSupportedArchs(int* n) {
    *n = (int)nvrtc_archs().size();
    return 0;
}
int nvrtcGetSupportedArchs(int* out) {
    auto a = nvrtc_archs();
    memcpy(out, a.data(), a.size() * sizeof(int));
    return 0;
}

int nvrtcCreateProgram(void** prog, const char* src, const char*, int, const char* const*, const char* const*) {
    *prog = new Program{src, ""};
    return 0;
}

int nvrtcCompileProgram(void* prog, int n, const char* const* options) {
    Program* p = (Program*)prog;
    g_compilations++;
    if (getenv("GRID_EMU_NVRTC_FAIL")) return 6;  // NVRTC_ERROR_COMPILATION
    p->variant = "fp32";
    bool arch = false;
    for (int i = 0; i < n; i++) {
        if (!strcmp(options[i], "-DGRID_ACT_F16")) p->variant = "fp16";
        if (!strcmp(options[i], "-DGRID_ACT_BF16")) p->variant = "bf16";
        arch |= !strncmp(options[i], "--gpu-architecture=", 19);
    }
    return arch ? 0 : 5;  // NVRTC_ERROR_INVALID_OPTION
}

int nvrtcDestroyProgram(void** prog) {
    delete (Program*)*prog;
    return 0;
}

int nvrtcGetProgramLogSize(void*, size_t* n) {
    const char* f = getenv("GRID_EMU_NVRTC_FAIL");
    *n = strlen(f ? f : "") + 1;
    return 0;
}

int nvrtcGetProgramLog(void*, char* log) {
    const char* f = getenv("GRID_EMU_NVRTC_FAIL");
    strcpy(log, f ? f : "");
    return 0;
}

static std::string image_of(void* prog) { return "GRIDEMU " + ((Program*)prog)->variant + "\n"; }

int nvrtcGetCUBINSize(void* prog, size_t* n) {
    *n = image_of(prog).size() + 1;
    return 0;
}
int nvrtcGetCUBIN(void* prog, char* out) {
    strcpy(out, image_of(prog).c_str());
    return 0;
}
int nvrtcGetPTXSize(void* prog, size_t* n) { return nvrtcGetCUBINSize(prog, n); }
int nvrtcGetPTX(void* prog, char* out) { return nvrtcGetCUBIN(prog, out); }

// ---------------------------------------------------------------- cuBLASLt

struct Layout {
    int type;
    unsigned long long rows, cols;
    long long ld;
    int batch = 1;
    long long stride = 0;
};

struct MatmulDesc {
    int compute, scale, transa = 0, transb = 0;
    unsigned int epilogue = 1;
    const void* bias = nullptr;
};

size_t cublasLtGetVersion(void) { return (size_t)env_long("GRID_EMU_CUBLASLT_VERSION", 120400); }

int cublasLtCreate(void** h) {
    *h = new int;
    return 0;
}
int cublasLtDestroy(void* h) {
    delete (int*)h;
    return 0;
}

int cublasLtMatmulDescCreate(void** d, int compute, int scale) {
    *d = new MatmulDesc{compute, scale};
    return 0;
}
int cublasLtMatmulDescDestroy(void* d) {
    delete (MatmulDesc*)d;
    return 0;
}

int cublasLtMatmulDescSetAttribute(void* desc, int attr, const void* buf, size_t size) {
    MatmulDesc* d = (MatmulDesc*)desc;
    switch (attr) {
    case 3: if (size != 4) return 7; memcpy(&d->transa, buf, 4); return 0;
    case 4: if (size != 4) return 7; memcpy(&d->transb, buf, 4); return 0;
    case 7: if (size != 4) return 7; memcpy(&d->epilogue, buf, 4); return 0;
    case 8: if (size != 8) return 7; memcpy(&d->bias, buf, 8); return 0;
    }
    return 7;  // CUBLAS_STATUS_INVALID_VALUE
}

int cublasLtMatrixLayoutCreate(void** l, int type, unsigned long long rows, unsigned long long cols, long long ld) {
    if (ld < (long long)rows) return 7;
    *l = new Layout{type, rows, cols, ld};
    return 0;
}
int cublasLtMatrixLayoutDestroy(void* l) {
    delete (Layout*)l;
    return 0;
}
int cublasLtMatrixLayoutSetAttribute(void* layout, int attr, const void* buf, size_t size) {
    Layout* l = (Layout*)layout;
    if (attr == 5 && size == 4) return memcpy(&l->batch, buf, 4), 0;
    if (attr == 6 && size == 8) return memcpy(&l->stride, buf, 8), 0;
    return 7;
}

int cublasLtMatmulPreferenceCreate(void** p) {
    *p = new int;
    return 0;
}
int cublasLtMatmulPreferenceDestroy(void* p) {
    delete (int*)p;
    return 0;
}
int cublasLtMatmulPreferenceSetAttribute(void*, int attr, const void*, size_t) {
    return (attr == 1 || (attr >= 5 && attr <= 8)) ? 0 : 7;
}

int cublasLtMatmulAlgoGetHeuristic(void*, void*, void*, void*, void*, void*, void*, int requested, void* results,
                                   int* found) {
    if (requested < 1) return 7;
    memset(results, 0, 96);
    *found = getenv("GRID_EMU_NO_ALGO") ? 0 : 1;
    return 0;
}

static float load_elem(const void* p, int type, long long i) {
    switch (type) {
    case 0: return ((const float*)p)[i];
    case 2: return grid_emu_half_to_float(((const unsigned short*)p)[i]);
    case 14: return __uint_as_float(((unsigned int)((const unsigned short*)p)[i]) << 16);
    }
    abort();
}

static void store_elem(void* p, int type, long long i, float v) {
    switch (type) {
    case 0: ((float*)p)[i] = v; return;
    case 2: ((unsigned short*)p)[i] = grid_emu_float_to_half(v); return;
    case 14: {
        unsigned int u = __float_as_uint(v);
        u += 0x7fffu + ((u >> 16) & 1u);
        ((unsigned short*)p)[i] = (unsigned short)(u >> 16);
        return;
    }
    }
    abort();
}

// op_rows copies op(X) of a column-major layout, batch z, into a
// row-major fp32 array [rows][depth]: row r holds element (r, p) of op(X)
// for A (rows m, depth k) or of op(X)ᵀ for B (rows n, depth k).
static std::vector<float> op_rows(const void* X, Layout l, bool trans, bool is_b, int z, long long rows,
                                  long long depth) {
    std::vector<float> out(rows * depth);
    for (long long r = 0; r < rows; r++)
        for (long long p = 0; p < depth; p++) {
            // A: op(A)[r,p] is A[r,p] (N) or A[p,r] (T); B: op(B)[p,r] is B[p,r] (N) or B[r,p] (T).
            bool swap = is_b ? !trans : trans;
            long long i = swap ? r * l.ld + p : p * l.ld + r;
            out[r * depth + p] = load_elem(X, l.type, z * l.stride + i);
        }
    return out;
}

// matmul computes D = alpha·op(A)·op(B) + beta·C (+ bias), column-major,
// accumulating in fp32 like cuBLAS's COMPUTE_32F.
static void matmul(MatmulDesc d, Layout a, Layout b, Layout c, float alpha, float beta, const void* A, const void* B,
                   const void* C, void* D) {
    long long m = c.rows, n = c.cols, k = d.transa ? a.rows : a.cols;
    for (int z = 0; z < c.batch; z++) {
        std::vector<float> ra = op_rows(A, a, d.transa, false, z, m, k), rb = op_rows(B, b, d.transb, true, z, n, k);
        for (long long j = 0; j < n; j++)
            for (long long i = 0; i < m; i++) {
                const float *x = &ra[i * k], *y = &rb[j * k];
                float s = 0.0f;
                for (long long p = 0; p < k; p++) s += x[p] * y[p];
                long long ic = z * c.stride + j * c.ld + i;
                float v = alpha * s;
                if (beta != 0.0f) v += beta * load_elem(C, c.type, ic);
                if (d.epilogue == 4) v += load_elem(d.bias, c.type, i);
                store_elem(D, c.type, ic, v);
            }
    }
}

int cublasLtMatmul(void*, void* desc, const void* alpha, const void* A, void* Adesc, const void* B, void* Bdesc,
                   const void* beta, const void* C, void* Cdesc, void* D, void* Ddesc, const void* algo, void*,
                   size_t, void* stream) {
    MatmulDesc d = *(MatmulDesc*)desc;
    Layout a = *(Layout*)Adesc, b = *(Layout*)Bdesc, c = *(Layout*)Cdesc;
    if (Cdesc != Ddesc || !algo) return 7;
    long long k = d.transa ? a.rows : a.cols, kb = d.transb ? b.cols : b.rows;
    long long m = d.transa ? a.cols : a.rows, n = d.transb ? b.rows : b.cols;
    if (k != kb || m != (long long)c.rows || n != (long long)c.cols) return 7;
    if (d.epilogue == 4 && !d.bias) return 7;
    float al = *(const float*)alpha, be = *(const float*)beta;
    enqueue(stream, [=] { matmul(d, a, b, c, al, be, A, B, C, D); });
    return 0;
}

}  // extern "C"
