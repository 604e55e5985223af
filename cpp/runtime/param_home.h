// One home per weight. Keras: a layer's weight is one variable, shared by every model that contains
// the layer. Each program keeps its own flat arena (the fused optimizer pass needs it), so a
// weight's value lives in exactly one place at a time, its home: the arena of the program that used
// it last, or, when no live program holds it, the cell's storage. A program that starts a step
// brings back what another program took (with both programs' locks held), so no update is lost and
// every step sees one consistent set of weights.
//
// Locks: the fork gate (below) first, then program mutexes, in address order, then cell mutexes,
// in address order; nothing takes a program mutex while holding a cell's. A cell's home changes only
// with the old and the new home's mutexes and the cell's own held, so holding a program's mutex pins
// the cells it is home of.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/common.h"

namespace bc {

class Program;

// fork() while another thread holds a program's or a cell's mutex would leave the child a lock no
// thread will ever release. Every section that takes one runs inside the gate (re-entrant per
// thread); a fork (pthread_atfork) waits until no section is open and keeps new ones out until it
// is done, so the child starts with every lock free.
class ForkGate {
 public:
  ForkGate();
  ~ForkGate();
  // Yields the CPU while waiting for another thread; a caller inside the gate, holding no lock,
  // steps out meanwhile (that other thread may be waiting to enter while a fork is under way).
  static void pause();
  ForkGate(const ForkGate&) = delete;
  ForkGate& operator=(const ForkGate&) = delete;
};

class ParamHomes;

// A program's lock, held inside the fork gate, taken with the linked weights brought home first
// (Program::lock_params).
class ParamLock {
 public:
  ParamLock(ParamHomes& homes, Program& self);
  ParamLock(const ParamLock&) = delete;
  ParamLock& operator=(const ParamLock&) = delete;

 private:
  ForkGate gate_;
  std::unique_lock<std::mutex> lock_;
};

// The value of one float32 weight, wherever it lives.
class ParamCell {
 public:
  ParamCell(const float* init, size_t n);  // the value starts in the cell's storage
  size_t size() const { return n_; }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }  // bumps on each move

  // Where the value is now: `data`, valid while `keep` (the home program, or the storage) lives.
  // Once the value moves on, `data` is stale but still safe to touch.
  struct Place {
    std::shared_ptr<void> keep;
    float* data;
  };
  Place place();

 private:
  friend class HomeLock;
  friend class ParamHomes;
  const size_t n_;
  std::mutex mu_;
  std::weak_ptr<Program> home_;        // the program whose arena holds the value ...
  Program* home_id_ = nullptr;         // ... the same, for comparisons (null: the storage holds it)
  size_t offset_ = 0;                  // offset of the value in the home's arena, or in storage_
  std::shared_ptr<AlignedBuf> storage_;  // the value's place when no program holds it
  std::atomic<uint64_t> version_{0};
};

// Locks the homes of `cells` (and `self`, when given) with the order above, retrying until the
// programs it locked are still the homes; data(c) is then where c's value is.
class HomeLock {
 public:
  HomeLock(const std::vector<ParamCell*>& cells, Program* self);
  ~HomeLock();
  HomeLock(const HomeLock&) = delete;
  HomeLock& operator=(const HomeLock&) = delete;
  float* data(ParamCell* c) const;
  void keep_only(std::mutex* m);  // unlocks everything but m (which the caller then owns)

 private:
  bool try_lock_all(Program* self);
  void unlock_all();
  std::vector<std::shared_ptr<Program>> keep_;  // the homes, alive while locked
  std::vector<std::mutex*> programs_;           // locked, in address order
  std::vector<ParamCell*> cells_;               // sorted, unique
  std::mutex* kept_ = nullptr;
  bool locked_ = false;
};

// Several cells read or written at once, each where it lives, under one HomeLock: a model's
// get_weights / set_weights see or give one consistent set. n floats per cell, in cell order.
void read_cells(const std::vector<ParamCell*>& cells, const std::vector<float*>& out);
void write_cells(const std::vector<ParamCell*>& cells, const std::vector<const float*>& in);

// A program's side: which arena segments are cells' values.
class ParamHomes {
 public:
  // Links segment `offset` (n floats) of self's arena to each cell and makes self the home of
  // every one (copying the current values in). self must be owned by a std::shared_ptr.
  void link(Program& self, const std::vector<std::pair<size_t, std::shared_ptr<ParamCell>>>& links);
  // Takes self's lock (the caller is inside the fork gate); when another program has taken one of
  // self's cells since self last held it, brings the value back first. Unshared or untouched: one
  // flag test.
  std::unique_lock<std::mutex> lock(Program& self);
  // From ~Program: the values self holds stay in self's arena, now owned by the cells.
  void release(Program& self) noexcept;

 private:
  void claim(Program& self);
  struct Link {
    size_t offset;
    std::shared_ptr<ParamCell> cell;
  };
  std::vector<Link> links_;
  std::atomic<bool> stolen_{false};
  std::shared_ptr<AlignedBuf> spare_;  // allocated at link(): release() never allocates
};

}  // namespace bc
