// The CUDA op tables: the same signatures as kernels/kernels.h and kernels/backward.h, with
// every float pointer a device pointer (index and small argument arrays too: key_limit,
// key_bias, beta, pos, ids, targets, weights, decay), computed on the current device's
// default stream. Products go through cuBLAS in FP32 (no TF32: the tests compare with the CPU
// at FP32 tolerances); attention is one pass over the keys with a running softmax per query
// row and head (flash-style: the Tq × Tk matrix is never stored unless probs is asked for);
// RMSNorm, RoPE, SwiGLU, cross-entropy and AdamW are fused kernels. Reductions run in a fixed
// order, so a call gives the same bits every time (not the CPU's bits: sums are ordered
// differently).
//
// Not yet in the tables (null entries): prepare (cuBLAS multiplies the raw weights), the
// attention backward and softmax_kl. sample_rows copies the open positions' logits to the host
// and samples there (kernels/sample_ops.h); choose_unmask works on host arrays.
#pragma once
#include <cstddef>
#include <string>

#include "kernels/backward.h"
#include "kernels/kernels.h"

namespace bs::cuda {

// True when a CUDA device is present and usable; otherwise false with the reason in *why.
bool device_available(std::string* why = nullptr);
// "NVIDIA H200, compute 9.0, driver 12.8, 139 GiB" (empty without a device).
std::string device_description();

const kernels::Ops& cuda_ops();
const kernels::GradOps& cuda_grad_ops();

// Device memory for tests and benchmarks (checked; throws bs::Error).
void* device_alloc(size_t bytes);
void device_free(void* p);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);  // waits for the stream
void synchronize();

}  // namespace bs::cuda
