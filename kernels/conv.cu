// Convolution, pooling and augmentation kernels for nn.Backend: im2col and
// its adjoint (a convolution is then GEMMs, see nn.ConvGeom), max-pooling
// forward and backward, and the affine gather. Tensors are NHWC. Each
// kernel's comment gives its reference loop (nn/naive/conv.go); package gpu
// (gpu/conv.go) launches them with 1-D grids of 256-thread blocks over a
// grid-stride loop unless stated otherwise. Every output element is written
// by exactly one thread, which sums its terms in a fixed order, so the
// results are deterministic.
#include "params.h"
#include "replay.h"

// im2col_f32: for r < batch·out_h·out_w (r = (n·out_h + oy)·out_w + ox) and
// col < c·kh·kw (col = (ch·kh + i)·kw + j):
//
//	cols[r, col] = x[n, oy·stride − pad + i, ox·stride − pad + j, ch]   (0 in the padding)
//
// One thread per element of cols, so the writes are coalesced.
extern "C" __global__ void im2col_f32(const conv_params p)
{
	const float *x = (const float *)p.x;
	float *cols = (float *)p.cols;
	const int taps = p.kh * p.kw, k = p.c * taps;
	const size_t n = (size_t)p.batch * p.out_h * p.out_w * k;
	for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
		const int col = (int)(e % k);
		const int r = (int)(e / k);
		const int ox = r % p.out_w, oy = r / p.out_w % p.out_h, img = r / (p.out_w * p.out_h);
		const int ch = col / taps, tap = col % taps;
		const int ih = oy * p.stride - p.pad + tap / p.kw;
		const int iw = ox * p.stride - p.pad + tap % p.kw;
		float v = 0.0f;
		if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w)
			v = x[(((size_t)img * p.h + ih) * p.w + iw) * p.c + ch];
		cols[e] = v;
	}
}

// col2im_f32: for every element (n, ih, iw, ch) of dx:
//
//	dx[n, ih, iw, ch] = Σ over i < kh, j < kw with oy = (ih + pad − i)/stride and
//	                    ox = (iw + pad − j)/stride whole and inside the output of
//	                    cols[(n·out_h + oy)·out_w + ox, (ch·kh + i)·kw + j]
//
// One thread per element of dx, summing in (i, j) order.
extern "C" __global__ void col2im_f32(const conv_params p)
{
	const float *cols = (const float *)p.cols;
	float *dx = (float *)p.x;
	const int taps = p.kh * p.kw, k = p.c * taps;
	const size_t n = (size_t)p.batch * p.h * p.w * p.c;
	for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
		const int ch = (int)(e % p.c);
		const int pix = (int)(e / p.c);
		const int iw = pix % p.w, ih = pix / p.w % p.h, img = pix / (p.w * p.h);
		float s = 0.0f;
		for (int i = 0; i < p.kh; ++i) {
			const int t = ih + p.pad - i;
			if (t < 0 || t % p.stride != 0 || t / p.stride >= p.out_h)
				continue;
			const int oy = t / p.stride;
			for (int j = 0; j < p.kw; ++j) {
				const int u = iw + p.pad - j;
				if (u < 0 || u % p.stride != 0 || u / p.stride >= p.out_w)
					continue;
				const int ox = u / p.stride;
				s += cols[(((size_t)img * p.out_h + oy) * p.out_w + ox) * k + ch * taps + i * p.kw + j];
			}
		}
		dx[e] = s;
	}
}

// maxpool_f32: for every element (n, oy, ox, ch) of y:
//
//	y[n, oy, ox, ch] = max over i, j < size of x[n, oy·stride + i, ox·stride + j, ch]
//	argmax[...]      = i·size + j of the first maximum in row-major order (when argmax ≠ 0)
//
// A NaN counts as larger than any number. One thread per element of y.
extern "C" __global__ void maxpool_f32(const pool_params p)
{
	const float *x = (const float *)p.x;
	float *y = (float *)p.y;
	int32_t *argmax = (int32_t *)p.argmax;
	const size_t n = (size_t)p.batch * p.out_h * p.out_w * p.c;
	for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
		const int ch = (int)(e % p.c);
		const int pix = (int)(e / p.c);
		const int ox = pix % p.out_w, oy = pix / p.out_w % p.out_h, img = pix / (p.out_w * p.out_h);
		const float *win = x + (((size_t)img * p.h + oy * p.stride) * p.w + ox * p.stride) * p.c + ch;
		float best = win[0];
		int at = 0;
		for (int i = 0; i < p.size; ++i)
			for (int j = 0; j < p.size; ++j) {
				const float v = win[((size_t)i * p.w + j) * p.c];
				if (v > best || (isnan(v) && !isnan(best))) {
					best = v;
					at = i * p.size + j;
				}
			}
		y[e] = best;
		if (argmax)
			argmax[e] = at;
	}
}

// maxpool_backward_f32: for every element (n, ih, iw, ch) of dx:
//
//	dx[n, ih, iw, ch] = Σ over the windows (oy, ox) that contain (ih, iw) and whose
//	                    argmax names it of dy[n, oy, ox, ch]
//
// One thread per element of dx, summing in (oy, ox) order. The thread at the
// first pixel of a window also checks that window's argmax and sets
// STATUS_ARGMAX when it is outside [0, size²).
extern "C" __global__ void maxpool_backward_f32(const pool_params p)
{
	float *dx = (float *)p.x;
	const float *dy = (const float *)p.y;
	const int32_t *argmax = (const int32_t *)p.argmax;
	const size_t n = (size_t)p.batch * p.h * p.w * p.c;
	for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
		const int ch = (int)(e % p.c);
		const int pix = (int)(e / p.c);
		const int iw = pix % p.w, ih = pix / p.w % p.h, img = pix / (p.w * p.h);
		// Windows oy with oy·stride ≤ ih < oy·stride + size, inside the output.
		const int oy0 = ih >= p.size ? (ih - p.size) / p.stride + 1 : 0;
		const int oy1 = ih / p.stride < p.out_h ? ih / p.stride : p.out_h - 1;
		const int ox0 = iw >= p.size ? (iw - p.size) / p.stride + 1 : 0;
		const int ox1 = iw / p.stride < p.out_w ? iw / p.stride : p.out_w - 1;
		float s = 0.0f;
		for (int oy = oy0; oy <= oy1; ++oy)
			for (int ox = ox0; ox <= ox1; ++ox) {
				const size_t o = (((size_t)img * p.out_h + oy) * p.out_w + ox) * p.c + ch;
				const int a = argmax[o];
				const int i = ih - oy * p.stride, j = iw - ox * p.stride;
				if (i == 0 && j == 0 && (a < 0 || a >= p.size * p.size))
					atomicOr((unsigned int *)p.status, (unsigned int)STATUS_ARGMAX);
				if (a == i * p.size + j)
					s += dy[o];
			}
		dx[e] = s;
	}
}

// gather_affine_f32: for r < rows and every output pixel (ox, oy), with
// i = order[start+r] and a = affine + 6·(start+r):
//
//	sx = a0·ox + a1·oy + a2,  sy = a3·ox + a4·oy + a5
//	x0 = floor(sx), y0 = floor(sy), tx = sx − x0, ty = sy − y0
//	v  = (1−ty)·((1−tx)·P(x0, y0) + tx·P(x0+1, y0)) + ty·((1−tx)·P(x0, y0+1) + tx·P(x0+1, y0+1))
//	x[r, oy·width + ox] = v·scale + shift;  y[r] = labels[i]
//
// where P is image i's pixel value, 0 outside the image, and v is 0 unless
// −1 < sx < width and −1 < sy < height (so NaN maps give 0). Grid
// (ceil(height·width/blockDim.x), rows). An index outside [0, count) sets
// STATUS_AFFINE_INDEX and writes NaN pixels and label −1 for that row.
extern "C" __global__ void gather_affine_f32(const gather_affine_params p)
{
	const int r = blockIdx.y;
	const int pixels = p.height * p.width;
	const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	const int start = replay_start(p.hyper, p.start);
	const int i = ((const int32_t *)p.order)[start + r];
	const bool ok = i >= 0 && i < p.count;
	if (e < (size_t)pixels) {
		const uint8_t *img = (const uint8_t *)p.images + (size_t)(ok ? i : 0) * pixels;
		const float *a = (const float *)p.affine + (size_t)(start + r) * 6;
		const float fx = (float)(e % p.width), fy = (float)(e / p.width);
		const float sx = a[0] * fx + a[1] * fy + a[2];
		const float sy = a[3] * fx + a[4] * fy + a[5];
		float v = 0.0f;
		if (sx > -1.0f && sx < (float)p.width && sy > -1.0f && sy < (float)p.height) {
			const float x0 = floorf(sx), y0 = floorf(sy);
			const float tx = sx - x0, ty = sy - y0;
			const int px = (int)x0, py = (int)y0;
			const bool left = px >= 0, right = px + 1 < p.width, top = py >= 0, bottom = py + 1 < p.height;
			const float p00 = left && top ? (float)img[py * p.width + px] : 0.0f;
			const float p10 = right && top ? (float)img[py * p.width + px + 1] : 0.0f;
			const float p01 = left && bottom ? (float)img[(py + 1) * p.width + px] : 0.0f;
			const float p11 = right && bottom ? (float)img[(py + 1) * p.width + px + 1] : 0.0f;
			v = (1.0f - ty) * ((1.0f - tx) * p00 + tx * p10) + ty * ((1.0f - tx) * p01 + tx * p11);
		}
		((float *)p.x)[(size_t)r * pixels + e] = ok ? fmaf(v, p.scale, p.shift) : NAN;
	}
	if (e == 0) {
		((int32_t *)p.y)[r] = ok ? (int32_t)((const uint8_t *)p.labels)[i] : -1;
		if (!ok)
			atomicOr((unsigned int *)p.status, (unsigned int)STATUS_AFFINE_INDEX);
	}
}
