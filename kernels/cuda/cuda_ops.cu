// The CUDA op tables (kernels/cuda/cuda_ops.h). Letters as in kernels/kernels.h.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/optim_ops.h"
#include "kernels/sample_ops.h"

namespace bs::cuda {

void fail_cuda(cudaError_t e, const char* call, const char* file, int line) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": " + call, cudaGetErrorString(e));
}

void fail_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": " + call,
              std::string("cuBLAS status ") + cublasGetStatusName(s) + " (" +
                  cublasGetStatusString(s) + ")");
}

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    cudaGetLastError();  // clear the sticky error of a failed query
    return false;
  }
  return true;
}

std::string device_description() {
  if (!device_available()) return "";
  int dev = 0, driver = 0;
  BS_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  BS_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  BS_CUDA_CHECK(cudaDriverGetVersion(&driver));
  return std::string(p.name) + ", compute " + std::to_string(p.major) + "." +
         std::to_string(p.minor) + ", driver " + std::to_string(driver / 1000) + "." +
         std::to_string(driver % 1000 / 10) + ", " + std::to_string(p.totalGlobalMem >> 30) +
         " GiB";
}

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  BS_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  return p;
}
void device_free(void* p) { BS_CUDA_CHECK(cudaFree(p)); }
void copy_to_device(void* dst, const void* src, size_t bytes) {
  BS_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  BS_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void synchronize() { BS_CUDA_CHECK(cudaDeviceSynchronize()); }

namespace {

constexpr int kWarp = 32;

cublasHandle_t blas() {
  thread_local cublasHandle_t h = [] {
    cublasHandle_t x = nullptr;
    BS_CUBLAS_CHECK(cublasCreate(&x));
    BS_CUBLAS_CHECK(cublasSetMathMode(x, CUBLAS_DEFAULT_MATH));  // FP32, no TF32
    return x;
  }();
  return h;
}

#define BS_LAUNCHED() BS_CUDA_CHECK(cudaGetLastError())

int blocks_for(size_t n, int threads) { return int((n + threads - 1) / threads); }

__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over a block of blockDim.x (a multiple of 32, at most 1024) threads; every thread gets it.
__device__ float block_sum(float v) {
  __shared__ float part[32];
  v = warp_sum(v);
  const int lane = threadIdx.x % kWarp, wid = threadIdx.x / kWarp;
  __syncthreads();  // part may still be read by a previous call
  if (lane == 0) part[wid] = v;
  __syncthreads();
  const int nw = blockDim.x / kWarp;
  v = lane < nw ? part[lane] : 0.f;
  return warp_sum(v);
}
__device__ float block_max(float v) {
  __shared__ float part[32];
  v = warp_max(v);
  const int lane = threadIdx.x % kWarp, wid = threadIdx.x / kWarp;
  __syncthreads();
  if (lane == 0) part[wid] = v;
  __syncthreads();
  const int nw = blockDim.x / kWarp;
  v = lane < nw ? part[lane] : -FLT_MAX;
  return warp_max(v);
}

// ---- products (cuBLAS, column-major view of row-major data) ----------------------------------
// Row-major x(T,C) is column-major xᵀ (C×T); so y(T,N) = x·wᵀ is, column-major,
// yᵀ (N×T) = w (as the N×C matrix wᵀᵀ) · xᵀ: gemm(Tᵀ, N) with m = N, n = T, k = C.
void cu_matmul(float* y, const float* x, const float* w, int T, int C, int N, bool accumulate) {
  if (T <= 0 || N <= 0) return;
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  BS_CUBLAS_CHECK(
      cublasSgemm(blas(), CUBLAS_OP_T, CUBLAS_OP_N, N, T, C, &one, w, C, x, C, &beta, y, N));
}

// dx(T,C) (+)= dy(T,N)·w(N,C): column-major dxᵀ (C×T) = wᵀ (C×N) · dyᵀ (N×T).
// dw(N,C) += dyᵀ·x: column-major dwᵀ (C×N) = xᵀ (C×T) · dy (T×N).
void cu_matmul_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                        int T, int C, int N, bool accumulate_dx) {
  if (T <= 0) return;
  const float one = 1.f, bdx = accumulate_dx ? 1.f : 0.f;
  if (dx)
    BS_CUBLAS_CHECK(
        cublasSgemm(blas(), CUBLAS_OP_N, CUBLAS_OP_N, C, T, N, &one, w, C, dy, N, &bdx, dx, C));
  if (dw)
    BS_CUBLAS_CHECK(
        cublasSgemm(blas(), CUBLAS_OP_N, CUBLAS_OP_T, C, N, T, &one, x, C, dy, N, &one, dw, C));
}

// ---- RMSNorm: a block per row ---------------------------------------------------------------
__global__ void k_rmsnorm(float* y, float* rstd, const float* x, const float* w, int C, float eps) {
  const int t = blockIdx.x;
  const float* xr = x + size_t(t) * C;
  float ss = 0.f;
  for (int j = threadIdx.x; j < C; j += blockDim.x) ss += xr[j] * xr[j];
  ss = block_sum(ss);
  const float r = rsqrtf(ss / C + eps);
  if (rstd && threadIdx.x == 0) rstd[t] = r;
  for (int j = threadIdx.x; j < C; j += blockDim.x) y[size_t(t) * C + j] = xr[j] * r * w[j];
}

void cu_rmsnorm(float* y, float* rstd, const float* x, const float* w, int T, int C, float eps) {
  if (T <= 0) return;
  k_rmsnorm<<<T, 256>>>(y, rstd, x, w, C, eps);
  BS_LAUNCHED();
}

// dx = r·(w∘dy) − x·r³/C·Σ_j (w∘dy)_j x_j, a block per row; dw_j += Σ_t dy_tj x_tj r_t, a thread
// per column summing the rows in order.
__global__ void k_rmsnorm_dx(float* dx, const float* dy, const float* x, const float* w,
                             const float* rstd, int C, bool accumulate) {
  const int t = blockIdx.x;
  const float *xr = x + size_t(t) * C, *dr = dy + size_t(t) * C;
  const float r = rstd[t];
  float dot = 0.f;
  for (int j = threadIdx.x; j < C; j += blockDim.x) dot += w[j] * dr[j] * xr[j];
  dot = block_sum(dot);
  const float k = r * r * r / C * dot;
  for (int j = threadIdx.x; j < C; j += blockDim.x) {
    const float v = r * w[j] * dr[j] - xr[j] * k;
    float& o = dx[size_t(t) * C + j];
    o = accumulate ? o + v : v;
  }
}
__global__ void k_rmsnorm_dw(float* dw, const float* dy, const float* x, const float* rstd, int T,
                             int C) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= C) return;
  float s = 0.f;
  for (int t = 0; t < T; ++t) s += dy[size_t(t) * C + j] * x[size_t(t) * C + j] * rstd[t];
  dw[j] += s;
}

void cu_rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                         const float* rstd, int T, int C, bool accumulate_dx) {
  if (T <= 0) return;
  if (dx) {
    k_rmsnorm_dx<<<T, 256>>>(dx, dy, x, w, rstd, C, accumulate_dx);
    BS_LAUNCHED();
  }
  if (dw) {
    k_rmsnorm_dw<<<blocks_for(C, 128), 128>>>(dw, dy, x, rstd, T, C);
    BS_LAUNCHED();
  }
}

// ---- RoPE: a thread per (row, head, pair) ----------------------------------------------------
__global__ void k_rope(float* x, const int* pos, int T, int H, int D, int stride, float base) {
  const int half = D / 2;
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(T) * H * half) return;
  const int j = int(i % half), h = int(i / half % H), t = int(i / (size_t(half) * H));
  const double angle = double(pos[t]) * pow(double(base), -2.0 * j / D);
  const float c = float(cos(angle)), s = float(sin(angle));
  float* p = x + size_t(t) * stride + size_t(h) * D;
  const float a = p[j], b = p[j + half];
  p[j] = a * c - b * s;
  p[j + half] = a * s + b * c;
}

void cu_rope(float* x, const int* pos, int T, int H, int D, int stride, float base) {
  const size_t n = size_t(T) * H * (D / 2);
  if (n == 0) return;
  k_rope<<<blocks_for(n, 256), 256>>>(x, pos, T, H, D, stride, base);
  BS_LAUNCHED();
}

// ---- attention: a warp per (query row, head), one pass over the visible keys ----------------
// Lane l takes keys l, l+32, ...; each keeps a running max m, sum l and output acc (D), merged
// across the warp at the end. With probs, a second pass writes softmax weights (H, Tq, Tk).
constexpr int kMaxHeadDim = 128;

__global__ void k_attention(float* out, float* probs, const float* q, const float* k,
                            const float* v, kernels::AttnArgs a) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (warp >= a.Tq * a.H) return;
  const int i = warp / a.H, h = warp % a.H, D = a.D;
  const float* qi = q + size_t(i) * a.q_stride + size_t(h) * D;
  const int limit = a.key_limit[i];
  const bool bias = a.key_bias && a.beta && i >= a.bias_from;
  const float bh = bias ? a.beta[h] : 0.f;
  auto score = [&](int j) {
    const float* kj = k + size_t(j) * a.kv_stride + size_t(h) * D;
    float s = 0.f;
    for (int d = 0; d < D; ++d) s += qi[d] * kj[d];
    s *= a.scale;
    if (bias) s += bh * a.key_bias[j];
    return s;
  };
  float m = -FLT_MAX, l = 0.f, acc[kMaxHeadDim];
  for (int d = 0; d < D; ++d) acc[d] = 0.f;
  for (int j = lane; j < limit; j += kWarp) {
    const float s = score(j);
    const float mn = fmaxf(m, s), f = __expf(m - mn), e = __expf(s - mn);
    const float* vj = v + size_t(j) * a.kv_stride + size_t(h) * D;
    l = l * f + e;
    for (int d = 0; d < D; ++d) acc[d] = acc[d] * f + e * vj[d];
    m = mn;
  }
  const float M = warp_max(m);
  const float f = l > 0.f ? __expf(m - M) : 0.f;
  const float L = warp_sum(l * f);
  float* o = out + size_t(i) * a.out_stride + size_t(h) * D;
  for (int d = 0; d < D; ++d) {
    const float s = warp_sum(acc[d] * f);
    if (lane == 0) o[d] = s / L;
  }
  if (probs) {
    float* pr = probs + (size_t(h) * a.Tq + i) * a.Tk;
    for (int j = lane; j < a.Tk; j += kWarp) pr[j] = j < limit ? __expf(score(j) - M) / L : 0.f;
  }
}

void cu_attention(float* out, float* probs, const float* q, const float* k, const float* v,
                  const kernels::AttnArgs& a) {
  BS_CHECK(a.D <= kMaxHeadDim, "cuda attention",
           "head dim " + std::to_string(a.D) + " over " + std::to_string(kMaxHeadDim));
  const size_t warps = size_t(a.Tq) * a.H;
  if (warps == 0) return;
  k_attention<<<blocks_for(warps * kWarp, 128), 128>>>(out, probs, q, k, v, a);
  BS_LAUNCHED();
}

// ---- SwiGLU ---------------------------------------------------------------------------------
__global__ void k_swiglu(float* y, const float* gu, int T, int F) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(T) * F) return;
  const size_t t = i / F, f = i % F;
  const float g = gu[t * 2 * F + f], u = gu[t * 2 * F + F + f];
  y[i] = g / (1.f + __expf(-g)) * u;
}
void cu_swiglu(float* y, const float* gu, int T, int F) {
  const size_t n = size_t(T) * F;
  if (n == 0) return;
  k_swiglu<<<blocks_for(n, 256), 256>>>(y, gu, T, F);
  BS_LAUNCHED();
}

__global__ void k_swiglu_backward(float* dgu, const float* dy, const float* gu, int T, int F) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(T) * F) return;
  const size_t t = i / F, f = i % F;
  const float g = gu[t * 2 * F + f], u = gu[t * 2 * F + F + f];
  const float sg = 1.f / (1.f + __expf(-g));
  dgu[t * 2 * F + f] = dy[i] * u * sg * (1.f + g * (1.f - sg));
  dgu[t * 2 * F + F + f] = dy[i] * g * sg;
}
void cu_swiglu_backward(float* dgu, const float* dy, const float* gu, int T, int F) {
  const size_t n = size_t(T) * F;
  if (n == 0) return;
  k_swiglu_backward<<<blocks_for(n, 256), 256>>>(dgu, dy, gu, T, F);
  BS_LAUNCHED();
}

// ---- softmax cross-entropy: a block per row --------------------------------------------------
__global__ void k_softmax_xent(float* logits, float* nll, const int* targets, const float* weights,
                               int V) {
  const int t = blockIdx.x;
  float* row = logits + size_t(t) * V;
  const int target = targets[t];
  if (target < 0) {
    for (int j = threadIdx.x; j < V; j += blockDim.x) row[j] = 0.f;
    if (threadIdx.x == 0) nll[t] = 0.f;
    return;
  }
  float mx = -FLT_MAX;
  for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, row[j]);
  mx = block_max(mx);
  float z = 0.f;
  for (int j = threadIdx.x; j < V; j += blockDim.x) z += __expf(row[j] - mx);
  z = block_sum(z);
  const float w = weights ? weights[t] : 1.f, lz = logf(z);
  __syncthreads();
  const float lt = row[target];
  __syncthreads();  // every thread has read the target's logit before it is overwritten
  if (threadIdx.x == 0) nll[t] = lz + mx - lt;
  for (int j = threadIdx.x; j < V; j += blockDim.x)
    row[j] = w * (__expf(row[j] - mx) / z - (j == target ? 1.f : 0.f));
}
void cu_softmax_xent(float* logits, float* nll, const int* targets, const float* weights, int T,
                     int V) {
  if (T <= 0) return;
  k_softmax_xent<<<T, 256>>>(logits, nll, targets, weights, V);
  BS_LAUNCHED();
}

// ---- row moves ------------------------------------------------------------------------------
__global__ void k_gather(float* y, const float* table, const int* ids, int n, int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(n) * C) return;
  y[i] = table[size_t(ids[i / C]) * C + i % C];
}
void cu_gather_rows(float* y, const float* table, const int* ids, int n, int C) {
  const size_t e = size_t(n) * C;
  if (e == 0) return;
  k_gather<<<blocks_for(e, 256), 256>>>(y, table, ids, n, C);
  BS_LAUNCHED();
}
__global__ void k_add_rows(float* y, const float* x, const float* b, int n, int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(n) * C) return;
  y[i] = x[i] + b[i % C];
}
void cu_add_rows(float* y, const float* x, const float* b, int n, int C) {
  const size_t e = size_t(n) * C;
  if (e == 0) return;
  k_add_rows<<<blocks_for(e, 256), 256>>>(y, x, b, n, C);
  BS_LAUNCHED();
}
void cu_copy(float* y, const float* x, size_t count) {
  if (count) BS_CUDA_CHECK(cudaMemcpyAsync(y, x, sizeof(float) * count, cudaMemcpyDeviceToDevice));
}
// A thread per column, the rows in order: the CPU's order, so repeated ids sum the same way.
__global__ void k_scatter_add(float* table, const float* dy, const int* ids, int n, int C) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= C) return;
  for (int i = 0; i < n; ++i) table[size_t(ids[i]) * C + j] += dy[size_t(i) * C + j];
}
void cu_scatter_add_rows(float* table, const float* dy, const int* ids, int n, int C) {
  if (n <= 0 || C <= 0) return;
  k_scatter_add<<<blocks_for(C, 128), 128>>>(table, dy, ids, n, C);
  BS_LAUNCHED();
}

// ---- the sampler: on the host, from the open positions' logits --------------------------------
void cu_sample_rows(int* token, float* prob, float* score, const float* logits, int n, int V,
                    const kernels::SampleArgs& a, const double* u_draw, const double* u_score,
                    kernels::SampleScratch& scratch) {
  std::vector<float> host(size_t(n) * V);
  copy_to_host(host.data(), logits, host.size() * sizeof(float));
  kernels::sample_rows(token, prob, score, host.data(), n, V, a, u_draw, u_score, scratch);
}

// ---- the optimizer --------------------------------------------------------------------------
constexpr int kSumChunk = 1 << 16;

// A block per chunk of 2^16 elements, in double; the chunk sums are added on the host in order.
__global__ void k_sum_squares(double* part, const float* g, size_t n) {
  __shared__ double sh[256];
  const size_t b = size_t(blockIdx.x) * kSumChunk, e = min(n, b + kSumChunk);
  double s = 0;
  for (size_t i = b + threadIdx.x; i < e; i += blockDim.x) s += double(g[i]) * g[i];
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o /= 2) {
    if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}
double cu_sum_squares(const float* g, size_t n) {
  const size_t chunks = (n + kSumChunk - 1) / kSumChunk;
  if (chunks == 0) return 0;
  double* part = static_cast<double*>(device_alloc(chunks * sizeof(double)));
  k_sum_squares<<<unsigned(chunks), 256>>>(part, g, n);
  BS_LAUNCHED();
  std::vector<double> host(chunks);
  copy_to_host(host.data(), part, chunks * sizeof(double));
  device_free(part);
  double s = 0;
  for (double x : host) s += x;
  return s;
}

__device__ void adam_update(size_t i, const float* p, const float* m, const float* v,
                            const float* g, const uint8_t* decay, const kernels::AdamArgs& a,
                            float& mi, float& vi, float& pi) {
  const float gi = g[i] * a.clip;
  mi = a.b1 * m[i] + (1.f - a.b1) * gi;
  vi = a.b2 * v[i] + (1.f - a.b2) * gi * gi;
  const float upd = (mi * a.c1) / (sqrtf(vi * a.c2) + a.eps);
  pi = p[i] - a.lr * (upd + (decay[i] ? a.wd * p[i] : 0.f));
}
__global__ void k_adam_check(unsigned long long* first, const float* p, const float* m,
                             const float* v, const float* g, const uint8_t* decay, size_t n,
                             kernels::AdamArgs a) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float mi, vi, pi;
  adam_update(i, p, m, v, g, decay, a, mi, vi, pi);
  if (!isfinite(mi) || !isfinite(vi) || !isfinite(pi)) atomicMin(first, (unsigned long long)i);
}
__global__ void k_adam_apply(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                             kernels::AdamArgs a) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float mi, vi, pi;
  adam_update(i, p, m, v, g, decay, a, mi, vi, pi);
  m[i] = mi, v[i] = vi, p[i] = pi;
  g[i] *= a.clip;
}
size_t cu_adamw(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                const kernels::AdamArgs& a) {
  if (n == 0) return 0;
  auto* first = static_cast<unsigned long long*>(device_alloc(sizeof(unsigned long long)));
  const unsigned long long none = n;
  copy_to_device(first, &none, sizeof none);
  k_adam_check<<<blocks_for(n, 256), 256>>>(first, p, m, v, g, decay, n, a);
  BS_LAUNCHED();
  unsigned long long got = 0;
  copy_to_host(&got, first, sizeof got);
  device_free(first);
  if (got < n) return size_t(got);
  k_adam_apply<<<blocks_for(n, 256), 256>>>(p, m, v, g, decay, n, a);
  BS_LAUNCHED();
  return n;
}

}  // namespace

const kernels::Ops& cuda_ops() {
  static const kernels::Ops ops{"cuda",
                                cu_matmul,
                                cu_rmsnorm,
                                cu_rope,
                                cu_attention,
                                cu_swiglu,
                                cu_gather_rows,
                                cu_add_rows,
                                cu_copy,
                                nullptr,
                                nullptr,
                                cu_sample_rows,
                                kernels::choose_unmask};
  return ops;
}

const kernels::GradOps& cuda_grad_ops() {
  static const kernels::GradOps ops{"cuda",
                                    cu_matmul_backward,
                                    cu_rmsnorm_backward,
                                    nullptr,  // attention backward: not yet
                                    cu_swiglu_backward,
                                    cu_softmax_xent,
                                    nullptr,  // softmax_kl: not yet
                                    cu_scatter_add_rows,
                                    cu_sum_squares,
                                    cu_adamw};
  return ops;
}

}  // namespace bs::cuda
