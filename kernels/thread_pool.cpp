// Fixed thread pool behind parallel_for (see thread_pool.h).
//
// One process-wide pool of num_threads()-1 workers; the calling thread is worker 0. Workers sleep
// on a condition variable between jobs and the caller sleeps on another until every chunk is done.
//
// Before sleeping, each side spins for at most spin_micros() (100 µs) watching an atomic: a vCPU
// that has gone idle in a VM can be slow to wake, and the gaps between the parallel ops of a
// forward or backward are mostly shorter than the spin, so the worker is still awake for the
// next op. Measured in 4 interleaved pairs of bench_forward runs on 2 threads: the block context
// 3-31% faster with the spin, plain512 -5% to +35% (docs/BENCHMARKS.md). The spin is bounded, so
// when the second vCPU is taken away (PERF-FACTS) a hand-off wastes at most that much before
// sleeping as before: never the collapse of an unbounded spin-wait.
//
// A job is published by bumping a generation counter under the mutex. A worker that takes part in
// generation g always finishes it before g+1 can be published (the caller waits for all chunks),
// so a worker can never skip a generation in which it has work.
#include "kernels/thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bs {
namespace {

constexpr int kMaxThreads = 256;
// Longest spin before a worker or the caller sleeps, in microseconds: 100, or BS_SPIN_US (0 to
// 10000; 0 = always sleep at once) for measuring the effect (docs/BENCHMARKS.md).
int spin_micros() {
  static const int us = [] {
    const char* v = std::getenv("BS_SPIN_US");
    if (!v || !*v) return 100;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    return (*end == '\0' && x >= 0 && x <= 10000) ? int(x) : 100;
  }();
  return us;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or spin_micros() have passed; true when done() became true.
template <class Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_micros());
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= until) return done();
  }
}

// True on any thread that is currently executing a chunk of a parallel_for (workers and the
// caller alike): a nested parallel_for there runs inline.
thread_local bool t_in_parallel = false;

class Pool {
 public:
  ~Pool() { resize(1); }

  int size() {
    std::lock_guard<std::mutex> lk(mu_);
    return threads_;
  }

  // Stops all workers and starts n-1 new ones. Holds the dispatch lock, so it waits for a
  // parallel_for running on another thread.
  void resize(int n) {
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
    stop_workers();
    std::lock_guard<std::mutex> lk(mu_);
    threads_ = n;
    stop_ = false;
    workers_.reserve(n - 1);
    // A worker's first seen generation is fixed here, under mu_: read later in the worker, a job
    // published in between would look already seen and the caller would wait for it forever.
    const uint64_t gen = generation_.load(std::memory_order_relaxed);
    for (int w = 1; w < n; ++w) workers_.emplace_back([this, w, gen] { worker_loop(w, gen); });
  }

  void run(int n, const std::function<void(int, int)>& fn) {
    // One job at a time; a parallel_for from a second outside thread waits its turn.
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
    int k = 0;
    {
      std::lock_guard<std::mutex> lk(mu_);
      k = n < threads_ ? n : threads_;
      if (k <= 1) {
        k = 1;
      } else {
        fn_ = &fn;
        n_ = n;
        chunks_ = k;
        pending_.store(k - 1, std::memory_order_relaxed);
        errors_.assign(k, nullptr);
        generation_.fetch_add(1, std::memory_order_release);
      }
    }
    if (k == 1) {  // nothing to hand out
      run_chunk_inline(fn, 0, n);
      return;
    }
    work_cv_.notify_all();

    std::exception_ptr err0;
    try {
      run_chunk_inline(fn, chunk_begin(0, n, k), chunk_begin(1, n, k));
    } catch (...) {
      err0 = std::current_exception();
    }

    spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_.load(std::memory_order_relaxed) == 0; });
    fn_ = nullptr;
    errors_[0] = err0;
    for (const auto& e : errors_) {
      if (e) {
        std::exception_ptr first = e;
        errors_.clear();
        lk.unlock();
        std::rethrow_exception(first);
      }
    }
  }

 private:
  // Start of chunk c when [0, n) is cut into k nearly equal contiguous parts.
  static int chunk_begin(int c, int n, int k) {
    return static_cast<int>(static_cast<int64_t>(n) * c / k);
  }

  static void run_chunk_inline(const std::function<void(int, int)>& fn, int b, int e) {
    const bool outer = t_in_parallel;
    t_in_parallel = true;
    try {
      fn(b, e);
    } catch (...) {
      t_in_parallel = outer;
      throw;
    }
    t_in_parallel = outer;
  }

  void worker_loop(int w, uint64_t seen) {
    t_in_parallel = true;  // everything a worker runs is inside a parallel_for
    for (;;) {
      const std::function<void(int, int)>* fn = nullptr;
      int b = 0, e = 0;
      // Spin first (the next job usually follows within microseconds), then sleep.
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lk(mu_);
        work_cv_.wait(lk,
                      [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stop_) return;
        seen = generation_.load(std::memory_order_relaxed);
        if (w >= chunks_) continue;  // this job has fewer chunks than threads
        fn = fn_;
        b = chunk_begin(w, n_, chunks_);
        e = chunk_begin(w + 1, n_, chunks_);
      }
      std::exception_ptr err;
      try {
        (*fn)(b, e);
      } catch (...) {
        err = std::current_exception();
      }
      bool last = false;
      {
        std::lock_guard<std::mutex> lk(mu_);
        errors_[w] = err;
        last = pending_.fetch_sub(1, std::memory_order_acq_rel) == 1;
      }
      if (last) done_cv_.notify_one();
    }
  }

  // Caller holds dispatch_mu_.
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex dispatch_mu_;  // serialises jobs and resizes
  std::mutex mu_;           // guards everything below
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> workers_;
  int threads_ = 1;
  bool stop_ = false;
  // Written under mu_; atomics so that the spins can watch them without the lock.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int, int)>* fn_ = nullptr;
  int n_ = 0, chunks_ = 0;
  std::vector<std::exception_ptr> errors_;  // (chunks_) one slot per chunk
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void set_num_threads(int n) {
  if (t_in_parallel) {
    throw std::logic_error("set_num_threads called from inside parallel_for");
  }
  if (n < 1) n = 1;
  if (n > kMaxThreads) n = kMaxThreads;
  if (n == pool().size()) return;
  pool().resize(n);
}

int num_threads() { return pool().size(); }

void parallel_for(int n, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  if (t_in_parallel) {  // nested: the pool is busy with the outer job, run here
    fn(0, n);
    return;
  }
  pool().run(n, fn);
}

}  // namespace bs
