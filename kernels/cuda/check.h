// Checked CUDA and cuBLAS calls: a failing call throws bs::Error naming the call, the file and
// the line, and the library's own message ("kernels/cuda/cuda_ops.cu:88: cudaMalloc(&p, bytes):
// out of memory"). Kernel launches are checked with BS_CUDA_CHECK(cudaGetLastError()).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace bs::cuda {

[[noreturn]] void fail_cuda(cudaError_t e, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t s, const char* call, const char* file, int line);

}  // namespace bs::cuda

#define BS_CUDA_CHECK(call)                                                            \
  do {                                                                                 \
    const cudaError_t bs_e_ = (call);                                                  \
    if (bs_e_ != cudaSuccess) ::bs::cuda::fail_cuda(bs_e_, #call, __FILE__, __LINE__); \
  } while (0)

#define BS_CUBLAS_CHECK(call)                                                                      \
  do {                                                                                             \
    const cublasStatus_t bs_s_ = (call);                                                           \
    if (bs_s_ != CUBLAS_STATUS_SUCCESS) ::bs::cuda::fail_cublas(bs_s_, #call, __FILE__, __LINE__); \
  } while (0)
