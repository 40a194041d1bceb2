// mlpstep.cu times the fused MLP step's kernels (kernels/mlp.cu) on a GPU
// without Go: an epoch of the tutorial MLP (784-64-32-10, batch 64, plain
// SGD) recorded as one CUDA graph of every step's launches and replayed,
// and each kernel alone the same number of times, on synthetic MNIST-like
// data (a fifth of the pixels lit). It is the quick loop for trying kernel
// variants on a lent GPU: build it here for sm_90 (bench/cuda/build.sh),
// carry the binary, run it there.
//
//	mlpstep [epochs]   prints ms per epoch and µs per launch, per variant
//
// The last two variants replay an epoch as the Go path does
// (nn.Trainer.replayEpoch, gpu.Recording.ReplayAt): the chained steps
// recorded once as a chunk of 64 (nn.DefaultReplaySteps) reading their
// positions from a device replay_hyper, replayed 14 times, then a second
// recording of the 41 steps left; before each replay one small copy of its
// positions from a pinned staging buffer, which the host reuses only after
// an event says the copy before has run (gpu/cuda.go's upload). "no
// copies" launches the same graphs without them: the difference is what
// the copies cost the device.
//
// The "chained, ..." variants after them try programmatic dependent launch
// (kernels/mlp.cu, mlp_params.pdl; sm_90 only, where this file's build has
// the griddepcontrol instructions): "early loads" only reorders the loads
// (pdl 1, plain launches, as the Go path runs now); "PDL" launches
// mlp_rows_f32 and mlp_update_f32 with programmaticStreamSerialization so
// that each may start while the kernel before ends (pdl 1: the next kernel
// launches when this one's blocks end); "PDL, early trigger" lets it
// launch as soon as every block has waited (pdl 2). A variant the driver
// refuses is reported and skipped.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <cuda.h>
#include <cuda_runtime.h>

// -DFIXED_TUTORIAL: the kernels with the tutorial's widths fixed at compile
// time (what the general widths cost).
#ifdef FIXED_TUTORIAL
#define MLP_FIXED_WIDTHS 3, 784, 64, 32, 10
#endif
#include "../../kernels/mlp.cu"

#define CHECK(x)                                                                        \
	do {                                                                                \
		cudaError_t e_ = (x);                                                           \
		if (e_ != cudaSuccess) {                                                        \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
			exit(1);                                                                    \
		}                                                                               \
	} while (0)

__global__ void empty_kernel(const mlp_params p) {}

// launch queues kernel k on s, with programmatic stream serialization
// when pdl (cudaLaunchKernelEx), and returns the launch's error.
static cudaError_t launch(void (*k)(const mlp_params), dim3 grid, dim3 block, cudaStream_t s, const mlp_params &p, bool pdl)
{
	if (!pdl) {
		k<<<grid, block, 0, s>>>(p);
		return cudaGetLastError();
	}
	cudaLaunchAttribute attr[1];
	attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
	attr[0].val.programmaticStreamSerializationAllowed = 1;
	cudaLaunchConfig_t cfg = {};
	cfg.gridDim = grid, cfg.blockDim = block, cfg.stream = s, cfg.attrs = attr, cfg.numAttrs = 1;
	return cudaLaunchKernelEx(&cfg, k, p);
}

static unsigned rnd(unsigned long long &s)
{
	s = s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(s >> 33);
}

template <typename T> static T *upload(const std::vector<T> &h)
{
	T *d;
	CHECK(cudaMalloc(&d, h.size() * sizeof(T)));
	CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
	return d;
}

// epoch_ms runs run_epoch (which queues an epoch's work on s) epochs + 1
// times, each between two events, and returns the times of all but the
// first (a warm-up) in ms, sorted.
template <typename F> static std::vector<float> epoch_ms(cudaStream_t s, int epochs, F run_epoch)
{
	cudaEvent_t a, b;
	CHECK(cudaEventCreate(&a));
	CHECK(cudaEventCreate(&b));
	std::vector<float> ms;
	for (int e = 0; e < epochs + 1; ++e) {
		CHECK(cudaEventRecord(a, s));
		run_epoch(e);
		CHECK(cudaEventRecord(b, s));
		CHECK(cudaEventSynchronize(b));
		float t;
		CHECK(cudaEventElapsedTime(&t, a, b));
		if (e > 0)
			ms.push_back(t);
	}
	CHECK(cudaEventDestroy(a));
	CHECK(cudaEventDestroy(b));
	std::sort(ms.begin(), ms.end());
	return ms;
}

int main(int argc, char **argv)
{
	int mismatches = 0; // PDL variants whose weights differ from plain launches'
	const int epochs = argc > 1 ? atoi(argv[1]) : 5;
	const int count = 60000, batch = 64, w[4] = {784, 64, 32, 10}, L = 3;
	int sms;
	CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
	cudaDeviceProp prop;
	CHECK(cudaGetDeviceProperties(&prop, 0));
	unsigned long long seed = 1;
	std::vector<uint8_t> images((size_t)count * w[0]), labels(count);
	for (auto &v : images)
		v = rnd(seed) % 5 == 0 ? rnd(seed) % 256 : 0;
	for (auto &v : labels)
		v = rnd(seed) % 10;
	std::vector<int32_t> order(count);
	for (int i = 0; i < count; ++i)
		order[i] = i;
	for (int i = count - 1; i > 0; --i)
		std::swap(order[i], order[rnd(seed) % (i + 1)]);
	size_t nparams = 0, sum = 0;
	for (int l = 1; l <= L; ++l)
		nparams += (size_t)w[l] * w[l - 1] + w[l], sum += w[l];
	std::vector<float> params(nparams);
	for (auto &v : params)
		v = ((int)(rnd(seed) % 2001) - 1000) * 5e-5f;
	// mlpSplit (gpu/mlp.go)
	const int kslice = MLP_CHUNK, ksplit = (w[0] + kslice - 1) / kslice;
	const size_t work = (size_t)batch * (ksplit * w[1] + 2 * sum + 2); // MLPWorkspace (gpu/mlp.go)

	mlp_params p = {};
	p.images = (uint64_t)upload(images);
	p.labels = (uint64_t)upload(labels);
	p.order = (uint64_t)upload(order);
	p.params = (uint64_t)upload(params);
	p.grads = (uint64_t)upload(std::vector<float>(nparams));
	p.work = (uint64_t)upload(std::vector<float>(work));
	p.loss = (uint64_t)upload(std::vector<float>(1));
	p.status = (uint64_t)upload(std::vector<uint32_t>(1));
	p.layers = L;
	p.w0 = w[0], p.w1 = w[1], p.w2 = w[2], p.w3 = w[3];
	p.count = count, p.ksplit = ksplit, p.kslice = kslice;
	p.optimizer = MLP_SGD, p.t = 1;
	p.scale = 1.0f / 255, p.shift = 0;
	p.lr = 0.005f, p.beta1 = 0.9f, p.beta2 = 0.999f, p.eps = 1e-8f;
	const int update_blocks = (w[1] + MLP_UPDATE_TILE - 1) / MLP_UPDATE_TILE * ((w[0] + MLP_CHUNK - 1) / MLP_CHUNK) +
	                          (int)((nparams - (size_t)w[1] * w[0] + MLP_THREADS - 1) / MLP_THREADS) + 1;
	const int steps = count / batch; // full batches only
	printf("%s (%d SMs), %d steps of %d rows, ksplit %d × %d, %d update blocks, MLP_THREADS %d\n",
	       prop.name, sms, steps, batch, ksplit, kslice, update_blocks, MLP_THREADS);

	cudaStream_t s;
	CHECK(cudaStreamCreate(&s));
	const dim3 block(MLP_THREADS);
	const dim3 gfirst((w[1] + MLP_TILE - 1) / MLP_TILE, (batch + MLP_TILE - 1) / MLP_TILE, ksplit);
	struct variant {
		const char *name;
		unsigned kernels; // bit 0 first, 1 rows, 2 update, 3 empty×3, 4 chained (first only at step 0, update prepares the next)
	} variants[] = {
		{"step (first, rows, update)", 7}, {"chained (rows, update)", 16 | 6}, {"first alone", 1},
		{"rows alone", 2}, {"update alone", 4}, {"update preparing alone", 16 | 4}, {"3 empty kernels", 8},
	};
	for (const variant &v : variants) {
		CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
		for (int st = 0; st < steps; ++st) {
			p.rows = batch, p.start = st * batch;
			p.prepare = (v.kernels & 16) && st + 1 < steps;
			if ((v.kernels & 1) || ((v.kernels & 16) && (v.kernels & 2) && st == 0))
				mlp_first_f32<<<gfirst, block, 0, s>>>(p);
			if (v.kernels & 2)
				mlp_rows_f32<<<batch, MLP_ROWS_THREADS, 0, s>>>(p);
			if (v.kernels & 4)
				mlp_update_f32<<<update_blocks, block, 0, s>>>(p);
			if (v.kernels & 8)
				for (int i = 0; i < 3; ++i)
					empty_kernel<<<64, block, 0, s>>>(p);
		}
		cudaGraph_t g;
		cudaGraphExec_t exec;
		CHECK(cudaStreamEndCapture(s, &g));
		CHECK(cudaGraphInstantiate(&exec, g, nullptr, nullptr, 0));
		const std::vector<float> ms = epoch_ms(s, epochs, [&](int) { CHECK(cudaGraphLaunch(exec, s)); });
		const int launches = __builtin_popcount(v.kernels & 7) + (v.kernels & 8 ? 3 : 0);
		printf("%-28s %7.2f ms per epoch (min %.2f, max %.2f)  %5.2f µs per step  %5.2f µs per launch\n", v.name,
		       ms[ms.size() / 2], ms.front(), ms.back(), 1000 * ms[ms.size() / 2] / steps,
		       1000 * ms[ms.size() / 2] / steps / launches);
		CHECK(cudaGraphExecDestroy(exec));
		CHECK(cudaGraphDestroy(g));
	}

	// As the Go path replays an epoch (see the top of this file).
	{
		const int k = 64, chunks = steps / k, tail = steps - chunks * k;
		replay_hyper *dh, *staging;
		CHECK(cudaMalloc(&dh, sizeof(replay_hyper)));
		CHECK(cudaMallocHost(&staging, sizeof(replay_hyper)));
		float *losses;
		CHECK(cudaMalloc(&losses, steps * sizeof(float)));
		cudaEvent_t busy;
		CHECK(cudaEventCreateWithFlags(&busy, cudaEventDisableTiming));
		CHECK(cudaEventRecord(busy, s));
		mlp_params q = p;
		q.hyper = (uint64_t)dh, q.loss = (uint64_t)losses;
		// record steps [from, to) at positions relative to from, as
		// RecordHyper does for the chunk (from 0) and the tail (from its own
		// start, replayed with row base 0).
		auto record = [&](int from, int to) {
			CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
			for (int st = from; st < to; ++st) {
				q.rows = batch, q.start = st * batch, q.t = st + 1;
				q.loss = (uint64_t)(losses + st);
				q.prepare = st + 1 < to;
				if (st == from)
					mlp_first_f32<<<gfirst, block, 0, s>>>(q);
				mlp_rows_f32<<<batch, MLP_ROWS_THREADS, 0, s>>>(q);
				mlp_update_f32<<<update_blocks, block, 0, s>>>(q);
			}
			cudaGraph_t g;
			cudaGraphExec_t exec;
			CHECK(cudaStreamEndCapture(s, &g));
			CHECK(cudaGraphInstantiate(&exec, g, nullptr, nullptr, 0));
			CHECK(cudaGraphDestroy(g));
			return exec;
		};
		cudaGraphExec_t chunk = record(0, k), rest = record(chunks * k, steps);
		// replay sets the positions (unless copies is false) and launches.
		auto replay = [&](cudaGraphExec_t exec, replay_hyper h, bool copies) {
			if (copies) {
				CHECK(cudaEventSynchronize(busy));
				*staging = h;
				CHECK(cudaMemcpyAsync(dh, staging, sizeof h, cudaMemcpyHostToDevice, s));
				CHECK(cudaEventRecord(busy, s));
			}
			CHECK(cudaGraphLaunch(exec, s));
		};
		for (bool copies : {true, false}) {
			const std::vector<float> ms = epoch_ms(s, epochs, [&](int e) {
				for (int c = 0; c < chunks; ++c)
					replay(chunk, replay_hyper{p.lr, e * steps + c * k, c * k * batch, c * k}, copies);
				if (tail > 0)
					replay(rest, replay_hyper{p.lr, e * steps, 0, 0}, copies);
			});
			printf("%-28s %7.2f ms per epoch (min %.2f, max %.2f)  %5.2f µs per step  %d replays\n",
			       copies ? "chunked (as Go), copies" : "chunked (as Go), no copies", ms[ms.size() / 2], ms.front(),
			       ms.back(), 1000 * ms[ms.size() / 2] / steps, chunks + (tail > 0));
		}
		CHECK(cudaGraphExecDestroy(chunk));
		CHECK(cudaGraphExecDestroy(rest));
	}

	// Programmatic dependent launch (see the top of this file): the
	// chained epoch with mlp_params.pdl and, but for the first, the
	// launch attribute.
	struct pdl_variant {
		const char *name;
		int pdl;
		bool attr;
	} pdl_variants[] = {
		{"chained, early loads", 1, false}, {"chained, PDL", 1, true}, {"chained, PDL, early trigger", 2, true},
	};
	// queue_epoch queues a chained epoch as variant v launches it.
	auto queue_epoch = [&](const pdl_variant &v) {
		cudaError_t err = cudaSuccess;
		for (int st = 0; st < steps && err == cudaSuccess; ++st) {
			p.rows = batch, p.start = st * batch, p.pdl = v.pdl, p.prepare = st + 1 < steps;
			if (st == 0)
				err = launch(mlp_first_f32, gfirst, block, s, p, false);
			if (err == cudaSuccess)
				err = launch(mlp_rows_f32, dim3(batch), dim3(MLP_ROWS_THREADS), s, p, v.attr);
			if (err == cudaSuccess)
				err = launch(mlp_update_f32, dim3(update_blocks), block, s, p, v.attr);
		}
		return err;
	};
	// Only sm_90 code has the wait: elsewhere a dependent launch would race.
	const bool hopper = prop.major == 9;
	if (!hopper)
		printf("PDL variants skipped: compute capability %d.%d (this build's wait is in its sm_90 code)\n", prop.major,
		       prop.minor);
	for (const pdl_variant &v : pdl_variants) {
		if (v.attr && !hopper)
			continue;
		CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
		cudaError_t err = queue_epoch(v);
		cudaGraph_t g = nullptr;
		const cudaError_t end = cudaStreamEndCapture(s, &g);
		cudaGraphExec_t exec = nullptr;
		if (err == cudaSuccess)
			err = end;
		if (err == cudaSuccess)
			err = cudaGraphInstantiate(&exec, g, nullptr, nullptr, 0);
		if (g)
			cudaGraphDestroy(g);
		if (err != cudaSuccess) {
			printf("%s: refused: %s\n", v.name, cudaGetErrorString(err));
			(void)cudaGetLastError();
			continue;
		}
		const std::vector<float> ms = epoch_ms(s, epochs, [&](int) { CHECK(cudaGraphLaunch(exec, s)); });
		printf("%-28s %7.2f ms per epoch (min %.2f, max %.2f)  %5.2f µs per step\n", v.name, ms[ms.size() / 2],
		       ms.front(), ms.back(), 1000 * ms[ms.size() / 2] / steps);
		CHECK(cudaGraphExecDestroy(exec));
	}
	p.pdl = 0;

	// The weights the variants end with agree: the same epochs from the
	// same start, with and without pdl (and the launch attribute), give the
	// same bits (an overlap that read or wrote too early would not).
	if (hopper) {
		std::vector<float> start(nparams), ref, got;
		CHECK(cudaMemcpy(start.data(), (void *)p.params, nparams * sizeof(float), cudaMemcpyDeviceToHost));
		for (const pdl_variant &v : {pdl_variant{"plain", 0, false}, pdl_variants[1], pdl_variants[2]}) {
			CHECK(cudaMemcpy((void *)p.params, start.data(), nparams * sizeof(float), cudaMemcpyHostToDevice));
			cudaError_t err = cudaSuccess;
			for (int e = 0; e < 2 && err == cudaSuccess; ++e)
				err = queue_epoch(v);
			if (err == cudaSuccess)
				err = cudaStreamSynchronize(s);
			if (err != cudaSuccess) {
				printf("same weights, %s: refused: %s\n", v.name, cudaGetErrorString(err));
				(void)cudaGetLastError();
				continue;
			}
			std::vector<float> &w = v.pdl == 0 ? ref : got;
			w.resize(nparams);
			CHECK(cudaMemcpy(w.data(), (void *)p.params, nparams * sizeof(float), cudaMemcpyDeviceToHost));
			if (v.pdl != 0 && ref.size() == nparams) {
				size_t diff = 0;
				for (size_t i = 0; i < nparams; ++i)
					diff += memcmp(&ref[i], &got[i], sizeof(float)) != 0;
				printf("same weights, %s: %s (%zu of %zu differ after 2 epochs)\n", v.name, diff ? "NO" : "yes", diff, nparams);
				if (diff)
					mismatches++;
			}
		}
		p.pdl = 0;
	}
	uint32_t status;
	CHECK(cudaMemcpy(&status, (void *)p.status, 4, cudaMemcpyDeviceToHost));
	float loss;
	CHECK(cudaMemcpy(&loss, (void *)p.loss, 4, cudaMemcpyDeviceToHost));
	printf("status %u, last loss %.4f\n", status, loss);
	return status != 0 || mismatches != 0;
}
