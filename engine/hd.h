// hd.h — one macro so a formula is written once and compiled for host and device.
// defines: BPR_HD
//
// Functions marked BPR_HD are plain inline C++ for the host compiler (and so are tested on
// the CPU in CI) and __host__ __device__ for nvcc, where the kernels in kernels/ call them.
#pragma once
#if defined(__CUDACC__)
#define BPR_HD __host__ __device__ __forceinline__
#else
#define BPR_HD inline
#endif
