#include "core/threads.h"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>

namespace bc {
namespace {

std::atomic<int> g_threads{0};          // 0: one per CPU
std::atomic<bool> g_may_have_threads{false};  // a count > 1 was handed out: OpenMP's pool may exist
std::atomic<bool> g_forked{false};      // forked after that: the pool's threads are gone
std::atomic<unsigned long> g_team_uses{0};
std::atomic<long long> g_team_last_ns{0};  // when a parallel GEMM last started (team_spinning)
constexpr long long kSpinNs = 100000;       // the team's threads spin about this long after a region

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void on_fork_child() {
  if (g_may_have_threads.load(std::memory_order_relaxed)) g_forked.store(true, std::memory_order_relaxed);
}

const bool g_atfork_registered = [] {
  pthread_atfork(nullptr, nullptr, on_fork_child);
  return true;
}();

}  // namespace

int max_threads() { return std::max(64, 4 * omp_get_num_procs()); }

bool forked_single_threaded() { return g_forked.load(std::memory_order_relaxed); }

void note_team_used() {
  g_team_uses.fetch_add(1, std::memory_order_relaxed);
  g_team_last_ns.store(now_ns(), std::memory_order_relaxed);
}

bool team_spinning() { return now_ns() - g_team_last_ns.load(std::memory_order_relaxed) < kSpinNs; }

unsigned long team_uses() { return g_team_uses.load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1 || n > max_threads())
    throw std::invalid_argument("set_num_threads expects an int n with n >= 1 and n <= " +
                                std::to_string(max_threads()) + ", got " + std::to_string(n));
  if (n > 1 && forked_single_threaded())
    throw std::runtime_error(
        "set_num_threads(" + std::to_string(n) + "): this process was forked after bigcore ran with several "
        "threads, and the OpenMP runtime cannot start threads in such a child, so bigcore runs single-threaded "
        "here. For multi-threaded workers use the 'spawn' or 'forkserver' start method "
        "(multiprocessing.get_context('spawn')).");
  g_threads.store(n, std::memory_order_relaxed);
}

int get_num_threads() {
  (void)g_atfork_registered;
  if (g_forked.load(std::memory_order_relaxed)) return 1;
  int n = g_threads.load(std::memory_order_relaxed);
  if (n <= 0) n = omp_get_num_procs();
  if (n > 1 && !g_may_have_threads.load(std::memory_order_relaxed))
    g_may_have_threads.store(true, std::memory_order_relaxed);
  return n;
}

}  // namespace bc
