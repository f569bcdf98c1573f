// Fixed thread pool behind parallel_for (see thread_pool.h).
//
// One process-wide pool of num_threads()-1 workers; the calling thread is worker 0. Workers sleep
// on a condition variable between jobs and the caller sleeps on another until every chunk is done,
// so nobody spins: when the second vCPU is taken away, a job just takes longer.
//
// A job is published by bumping a generation counter under the mutex. A worker that takes part in
// generation g always finishes it before g+1 can be published (the caller waits for all chunks),
// so a worker can never skip a generation in which it has work.
#include "kernels/thread_pool.h"

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bs {
namespace {

constexpr int kMaxThreads = 256;

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
    const uint64_t gen = generation_;
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
        pending_ = k - 1;
        errors_.assign(k, nullptr);
        ++generation_;
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

    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
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
      {
        std::unique_lock<std::mutex> lk(mu_);
        work_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
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
        last = --pending_ == 0;
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
  uint64_t generation_ = 0;
  const std::function<void(int, int)>* fn_ = nullptr;
  int n_ = 0, chunks_ = 0, pending_ = 0;
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
