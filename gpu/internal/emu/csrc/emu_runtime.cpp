// emu_runtime.cpp runs the kernels of kernels/*.cu, compiled for the CPU
// with cuda_emu.h, block after block, each CUDA thread a fiber with its own
// stack (x86-64 only).
//
// Threads run until they reach a barrier; the scheduler then releases a
// warp when all its live lanes wait at a shuffle, and the block when all its
// live threads wait at __syncthreads. Between barriers the threads run in
// ascending or, with emu_set_reverse(1), descending order, so a kernel that
// reads what another thread writes without a barrier between them gives
// different results in the two orders: the tests run both.
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "cuda_emu.h"
#include "params.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

extern "C" {
void gemm_f32(const gemm_params p);
void relu_f32(const eltwise_params p);
void relu_backward_f32(const eltwise_params p);
void softmax_xent_f32(const xent_params p);
void column_sums_f32(const colsum_params p);
void argmax_f32(const argmax_params p);
void gather_f32(const gather_params p);
void sgd_f32(const optim_params p);
void adam_f32(const optim_params p);
void im2col_f32(const conv_params p);
void col2im_f32(const conv_params p);
void maxpool_f32(const pool_params p);
void maxpool_backward_f32(const pool_params p);
void gather_affine_f32(const gather_affine_params p);
void mlp_first_f32(const mlp_params p);
void mlp_rows_f32(const mlp_params p);
void mlp_update_f32(const mlp_params p);
void gemm_splitk_reduce_f32(const gemm_params p);
}

namespace {

struct Kernel {
	const char *name;
	size_t param_size;
	void (*call)(const void *params);
};

#define KERNEL(fn, type) {#fn, sizeof(type), [](const void *p) { fn(*(const type *)p); }}
const Kernel kernels[] = {
	KERNEL(gemm_f32, gemm_params),
	KERNEL(relu_f32, eltwise_params),
	KERNEL(relu_backward_f32, eltwise_params),
	KERNEL(softmax_xent_f32, xent_params),
	KERNEL(column_sums_f32, colsum_params),
	KERNEL(argmax_f32, argmax_params),
	KERNEL(gather_f32, gather_params),
	KERNEL(sgd_f32, optim_params),
	KERNEL(adam_f32, optim_params),
	KERNEL(im2col_f32, conv_params),
	KERNEL(col2im_f32, conv_params),
	KERNEL(maxpool_f32, pool_params),
	KERNEL(maxpool_backward_f32, pool_params),
	KERNEL(gather_affine_f32, gather_affine_params),
	KERNEL(mlp_first_f32, mlp_params),
	KERNEL(mlp_rows_f32, mlp_params),
	KERNEL(mlp_update_f32, mlp_params),
	KERNEL(gemm_splitk_reduce_f32, gemm_params),
};
#undef KERNEL

enum State { RUNNABLE, AT_BARRIER, AT_WARP, DONE };

const size_t kStack = 256 * 1024;

// A fiber switch saves the callee-saved registers on the current stack and
// moves to the other stack (x86-64 System V; the scheduler and the kernels
// change no other state that must survive a call). It makes no system call,
// unlike swapcontext, which sets the signal mask on every switch.
extern "C" void emu_switch(void **save_sp, void *new_sp);
asm(R"(
	.text
	.globl emu_switch
	.type emu_switch, @function
emu_switch:
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
	.size emu_switch, .-emu_switch
	.section .note.GNU-stack,"",@progbits
	.text
)");

struct Fiber {
	void *sp;
	State state;
	std::vector<char> stack;
};

std::mutex mu;
bool reverse_order = false;
int block_order = 0;       // 0: in order, 1: reversed, 2: shuffled
unsigned block_seed = 1;   // for the shuffle
void *sched_sp;
std::vector<Fiber> fibers;
int cur;                        // the running fiber
const Kernel *kernel;           // the kernel being run
std::vector<char> param_bytes;  // its parameters
float warp_buf[32][32];         // shuffle exchange: [warp][lane]

void set_thread(int t)
{
	cur = t;
	threadIdx.x = t % blockDim.x;
	threadIdx.y = (t / blockDim.x) % blockDim.y;
	threadIdx.z = t / (blockDim.x * blockDim.y);
}

[[noreturn]] void fiber_main()
{
	kernel->call(param_bytes.data());
	fibers[cur].state = DONE;
	void *dead;
	emu_switch(&dead, sched_sp); // never resumed
	abort();
}

void wait(State s)
{
	fibers[cur].state = s;
	emu_switch(&fibers[cur].sp, sched_sp);
}

// start_fiber lays out f's stack so that the first switch to it "returns"
// into fiber_main with the stack aligned as after a call.
void start_fiber(Fiber &f)
{
	uintptr_t top = ((uintptr_t)f.stack.data() + f.stack.size()) & ~(uintptr_t)15;
	void **sp = (void **)top;
	*--sp = nullptr;                   // fiber_main's (unused) return address slot
	*--sp = (void *)&fiber_main;       // where emu_switch's ret goes
	for (int i = 0; i < 6; ++i)
		*--sp = nullptr;           // rbp, rbx, r12-r15
	f.sp = sp;
	f.state = RUNNABLE;
}

// run_block runs all threads of the current block; false on deadlock.
bool run_block(int nt)
{
	for (int t = 0; t < nt; ++t)
		start_fiber(fibers[t]);
	for (;;) {
		for (int i = 0; i < nt; ++i) {
			const int t = reverse_order ? nt - 1 - i : i;
			if (fibers[t].state != RUNNABLE)
				continue;
			set_thread(t);
			emu_switch(&sched_sp, fibers[t].sp);
		}
		bool released = false;
		for (int w = 0; w * 32 < nt; ++w) {
			int waiting = 0, live = 0;
			for (int t = w * 32; t < nt && t < w * 32 + 32; ++t) {
				live += fibers[t].state != DONE;
				waiting += fibers[t].state == AT_WARP;
			}
			if (waiting > 0 && waiting == live) {
				for (int t = w * 32; t < nt && t < w * 32 + 32; ++t)
					if (fibers[t].state == AT_WARP)
						fibers[t].state = RUNNABLE;
				released = true;
			}
		}
		if (released)
			continue;
		int live = 0, at_barrier = 0;
		for (int t = 0; t < nt; ++t) {
			live += fibers[t].state != DONE;
			at_barrier += fibers[t].state == AT_BARRIER;
		}
		if (live == 0)
			return true;
		if (at_barrier != live)
			return false; // some wait at a shuffle, others at __syncthreads
		for (int t = 0; t < nt; ++t)
			if (fibers[t].state == AT_BARRIER)
				fibers[t].state = RUNNABLE;
	}
}

} // namespace

// The programmatic dependent launch checker (emu_pdl_check). On a GPU a
// kernel launched with programmatic dependent launch may run while the
// kernel before it still runs, until it executes griddepcontrol.wait
// (emu_grid_wait here). So before its wait a block must not write device
// memory (but for the sticky status word's page, which kernels only OR
// bits into) nor read what the kernel before wrote. While checking, every
// launch runs with the device memory read-only: the first write to a page
// faults, the handler notes the page as written by this launch and makes
// it writable, and the write goes on. A block of a kernel that waits starts
// with the pages the launch before wrote not readable at all and the rest
// read-only; at its wait it goes over to the tracking just described.
// Either fault before the wait stops the launch with what was touched.
// (Host copies need writable memory: everything is writable again between
// launches.)
namespace {
struct Region {
	uintptr_t start;
	size_t len;
};
std::vector<Region> pdl_regions; // every allocation's data pages
bool pdl_checking;               // emu_pdl_check armed this launch
bool pdl_waits;                  // this launch's blocks wait (emu_grid_wait)
bool pdl_before_wait;            // the running block has not waited yet
uintptr_t pdl_status_page;       // writable before the wait too
std::unordered_set<uintptr_t> pdl_prev, pdl_last, pdl_cur; // pages written: by the launch this one checks against, the last launch, this one
const uintptr_t page_size = (uintptr_t)sysconf(_SC_PAGESIZE);

bool in_regions(uintptr_t a)
{
	for (const Region &r : pdl_regions)
		if (a >= r.start && a < r.start + r.len)
			return true;
	return false;
}

void protect_all(int prot)
{
	for (const Region &r : pdl_regions)
		mprotect((void *)r.start, r.len, prot);
}

// pdl_tracking: read-only memory but for the pages this launch wrote.
void pdl_tracking()
{
	protect_all(PROT_READ);
	for (uintptr_t p : pdl_cur)
		mprotect((void *)p, page_size, PROT_READ | PROT_WRITE);
	pdl_before_wait = false;
}

// pdl_block_start sets the protection a block starts with.
void pdl_block_start()
{
	if (!pdl_checking)
		return;
	if (!pdl_waits) {
		if (pdl_before_wait) // once a launch: later blocks find it set
			pdl_tracking();
		return;
	}
	protect_all(PROT_READ);
	for (uintptr_t p : pdl_prev)
		if (in_regions(p)) // not a page freed since, which the host may use again
			mprotect((void *)p, page_size, PROT_NONE);
	if (pdl_status_page)
		mprotect((void *)pdl_status_page, page_size, PROT_READ | PROT_WRITE);
	pdl_before_wait = true;
}
} // namespace

// emu_pdl_check arms the checker for the next launch: regions are the n
// allocations' data pages (start, length pairs, page-aligned); waits, that
// the kernel's blocks wait for the kernel before (emu_grid_wait) and are
// to be checked before it; rerun, that the launch is the one before run
// again (in another block order), to be checked against the same launch
// before it; status, the address of the status word (0 for none).
extern "C" void emu_pdl_check(const uint64_t *regions, int n, int waits, int rerun, uint64_t status)
{
	std::lock_guard<std::mutex> lock(mu);
	pdl_regions.clear();
	for (int i = 0; i < n; ++i)
		pdl_regions.push_back(Region{(uintptr_t)regions[2 * i], (size_t)regions[2 * i + 1]});
	pdl_checking = true;
	pdl_waits = waits != 0;
	if (!rerun)
		pdl_prev = pdl_last;
	pdl_status_page = (uintptr_t)status & ~(page_size - 1);
}

void emu_grid_wait()
{
	__syncthreads(); // every thread of the block waits, then one goes over
	if (pdl_checking && pdl_before_wait)
		pdl_tracking();
}

// A kernel that touches the page after a buffer (see emu.Alloc) faults: the
// handler, installed for the launch, takes the thread back to emu_launch
// with the address, which then reports it. Faults elsewhere (another
// thread, the Go runtime's own nil checks) go to the handler that was
// there before, as Go asks of handlers that C code installs.
namespace {
sigjmp_buf fault_jump;
volatile sig_atomic_t in_kernel;
pthread_t launch_thread;
void *volatile fault_addr;
struct sigaction prev_segv, prev_bus;

volatile sig_atomic_t pdl_fault; // 1: written before the wait, 2: read what the kernel before wrote

void on_fault(int sig, siginfo_t *info, void *ctx)
{
	if (in_kernel && pthread_equal(pthread_self(), launch_thread)) {
		const uintptr_t a = (uintptr_t)info->si_addr;
		if (sig == SIGSEGV && pdl_checking && in_regions(a)) {
			const bool write = (((ucontext_t *)ctx)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
			const uintptr_t page = a & ~(page_size - 1);
			if (write && !pdl_before_wait) {
				pdl_cur.insert(page); // the first write to a page of this launch
				mprotect((void *)page, page_size, PROT_READ | PROT_WRITE);
				return;
			}
			pdl_fault = write ? 1 : 2;
		}
		in_kernel = 0;
		fault_addr = info->si_addr;
		siglongjmp(fault_jump, 1);
	}
	const struct sigaction &prev = sig == SIGSEGV ? prev_segv : prev_bus;
	if (prev.sa_flags & SA_SIGINFO)
		prev.sa_sigaction(sig, info, ctx);
	else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN)
		prev.sa_handler(sig);
	else {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}
} // namespace

void __syncthreads() { wait(AT_BARRIER); }

float __shfl_xor_sync(unsigned, float v, int lane_mask)
{
	const int w = cur / 32, lane = cur % 32;
	warp_buf[w][lane] = v;
	wait(AT_WARP);
	const float r = warp_buf[w][lane ^ lane_mask];
	wait(AT_WARP);
	return r;
}

float __shfl_sync(unsigned, float v, int src_lane)
{
	const int w = cur / 32, lane = cur % 32;
	warp_buf[w][lane] = v;
	wait(AT_WARP);
	const float r = warp_buf[w][src_lane & 31];
	wait(AT_WARP);
	return r;
}

extern "C" void emu_set_reverse(int on)
{
	std::lock_guard<std::mutex> lock(mu);
	reverse_order = on != 0;
}

// emu_set_block_order makes the next launches run their blocks in order
// (0), in reverse (1) or shuffled with seed (2). On a GPU blocks run in any
// order and at once, so a kernel whose result depends on the order has an
// inter-block race or reads what another block writes: running it in two
// orders and comparing finds that off-GPU.
extern "C" void emu_set_block_order(int order, unsigned seed)
{
	std::lock_guard<std::mutex> lock(mu);
	block_order = order;
	block_seed = seed ? seed : 1;
}

// emu_launch runs kernel name over the grid; it returns 0, or writes why not
// into err and returns -1.
extern "C" int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
			  unsigned bz, const void *params, size_t size, char *err, size_t errlen, uint64_t *fault)
{
	std::lock_guard<std::mutex> lock(mu);
	kernel = nullptr;
	for (const Kernel &k : kernels)
		if (strcmp(k.name, name) == 0)
			kernel = &k;
	if (!kernel) {
		snprintf(err, errlen, "no kernel %s", name);
		return -1;
	}
	if (size != kernel->param_size) {
		snprintf(err, errlen, "%s: parameters are %zu bytes, the kernel takes %zu", name, size, kernel->param_size);
		return -1;
	}
	const unsigned nt = bx * by * bz;
	if (nt == 0 || nt > 1024 || gx == 0 || gy == 0 || gz == 0) {
		snprintf(err, errlen, "%s: bad launch shape grid (%u,%u,%u) block (%u,%u,%u)", name, gx, gy, gz, bx, by, bz);
		return -1;
	}
	param_bytes.assign((const char *)params, (const char *)params + size);
	if (fibers.size() < nt)
		fibers.resize(nt);
	for (unsigned t = 0; t < nt; ++t)
		if (fibers[t].stack.empty())
			fibers[t].stack.resize(kStack);
	blockDim = dim3{bx, by, bz};
	gridDim = dim3{gx, gy, gz};
	const size_t nb = (size_t)gx * gy * gz;
	std::vector<size_t> order(nb);
	for (size_t i = 0; i < nb; ++i)
		order[i] = block_order == 1 ? nb - 1 - i : i;
	if (block_order == 2) {
		unsigned long long s = block_seed;
		for (size_t i = nb; i > 1; --i) { // Fisher-Yates with a 64-bit LCG
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			std::swap(order[i - 1], order[(s >> 33) % i]);
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	launch_thread = pthread_self();
	sigaction(SIGSEGV, &sa, &prev_segv);
	sigaction(SIGBUS, &sa, &prev_bus);
	int rc = 0;
	pdl_fault = 0;
	pdl_cur.clear();
	pdl_before_wait = true; // (pdl_block_start: a launch that does not wait goes over once)
	if (sigsetjmp(fault_jump, 1) != 0) {
		*fault = (uint64_t)(uintptr_t)fault_addr;
		if (pdl_fault)
			snprintf(err, errlen, "%s: block (%u,%u,%u) thread (%u,%u,%u) %s memory at %p%s before its wait (griddepcontrol.wait)",
				 name, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z,
				 pdl_fault == 1 ? "wrote" : "read", fault_addr, pdl_fault == 1 ? "" : ", which the kernel before wrote,");
		else
			snprintf(err, errlen, "%s: block (%u,%u,%u) thread (%u,%u,%u) touched memory at %p", name, blockIdx.x,
				 blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z, fault_addr);
		rc = pdl_fault ? -3 : -2;
	} else {
		in_kernel = 1;
		for (size_t b : order) {
			const unsigned x = b % gx, y = b / gx % gy, z = b / ((size_t)gx * gy);
			blockIdx = uint3{x, y, z};
			pdl_block_start();
			if (!run_block((int)nt)) {
				snprintf(err, errlen, "%s: block (%u,%u,%u) deadlocks: threads wait at different barriers",
					 name, x, y, z);
				rc = -1;
				break;
			}
		}
		in_kernel = 0;
	}
	sigaction(SIGSEGV, &prev_segv, nullptr);
	sigaction(SIGBUS, &prev_bus, nullptr);
	if (pdl_checking) {
		protect_all(PROT_READ | PROT_WRITE);
		pdl_last = pdl_cur;
		pdl_checking = false;
	} else {
		pdl_last.clear(); // what an unwatched launch wrote is not known
	}
	return rc;
}

#include "layout_gen.h" // emu_layout, generated from params.h (gpu/internal/paramgen)
