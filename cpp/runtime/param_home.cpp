#include "runtime/param_home.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>

#include <pthread.h>

#include "runtime/program.h"

namespace bc {

namespace {

void copy_floats(float* dst, const float* src, size_t n) {
  if (n) std::memcpy(dst, src, n * sizeof(float));
}

// The fork gate: sections open, forks under way, and this thread's depth in the gate.
std::atomic<int> g_open{0};
std::atomic<int> g_forking{0};
thread_local int t_depth = 0;

void before_fork() {
  g_forking.fetch_add(1);
  while (g_open.load() != 0) std::this_thread::yield();  // the sections open finish; no new one starts
}
void after_fork_parent() { g_forking.fetch_sub(1); }
void after_fork_child() { g_forking.store(0); }  // the forking thread is the child's only one

const bool g_gate_registered = [] {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  return true;
}();

void enter_gate() {
  for (;;) {  // announce, then look (both sequentially consistent): a fork sees us or we see it
    while (g_forking.load() != 0) std::this_thread::yield();
    g_open.fetch_add(1);
    if (g_forking.load() == 0) return;
    g_open.fetch_sub(1);
  }
}
}  // namespace

ForkGate::ForkGate() {
  (void)g_gate_registered;
  if (t_depth++ == 0) enter_gate();
}

void ForkGate::pause() {
  if (t_depth == 0) {
    std::this_thread::yield();
    return;
  }
  g_open.fetch_sub(1);
  std::this_thread::yield();
  enter_gate();
}

ForkGate::~ForkGate() {
  if (--t_depth == 0) g_open.fetch_sub(1);
}

ParamLock::ParamLock(ParamHomes& homes, Program& self) : lock_(homes.lock(self)) {}

ParamCell::ParamCell(const float* init, size_t n) : n_(n), storage_(std::make_shared<AlignedBuf>(n)) {
  copy_floats(storage_->data(), init, n);
}

ParamCell::Place ParamCell::place() {
  ForkGate gate;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!home_id_) return {storage_, storage_->data() + offset_};
      if (std::shared_ptr<Program> p = home_.lock()) {
        float* data = p->params_.data() + offset_;
        return {std::move(p), data};
      }
    }
    ForkGate::pause();  // the home is being destroyed: ~Program hands the value over
  }
}

// -- HomeLock ---------------------------------------------------------------------------------

HomeLock::HomeLock(const std::vector<ParamCell*>& cells, Program* self) : cells_(cells) {
  std::sort(cells_.begin(), cells_.end());
  cells_.erase(std::unique(cells_.begin(), cells_.end()), cells_.end());
  while (!try_lock_all(self)) ForkGate::pause();  // no lock is held here
}

HomeLock::~HomeLock() { unlock_all(); }  // then keep_ goes (a last reference may end a program)

bool HomeLock::try_lock_all(Program* self) {
  keep_.clear();
  for (ParamCell* c : cells_) {
    std::lock_guard<std::mutex> g(c->mu_);
    if (!c->home_id_) continue;
    std::shared_ptr<Program> p = c->home_.lock();
    if (!p) return false;  // its home is being destroyed: wait until ~Program has handed it over
    keep_.push_back(std::move(p));
  }
  programs_.clear();
  for (const auto& p : keep_) programs_.push_back(&p->mu_);
  if (self) programs_.push_back(&self->mu_);
  std::sort(programs_.begin(), programs_.end());
  programs_.erase(std::unique(programs_.begin(), programs_.end()), programs_.end());
  for (std::mutex* m : programs_) m->lock();
  for (ParamCell* c : cells_) c->mu_.lock();
  locked_ = true;
  // Pinned: each cell's home is now a program locked here or none (its storage, under its mutex).
  // A home that changed between the look and the locks may not be: look again.
  for (ParamCell* c : cells_) {
    Program* h = c->home_id_;
    if (!h || h == self) continue;
    bool held = std::any_of(keep_.begin(), keep_.end(), [h](const std::shared_ptr<Program>& p) { return p.get() == h; });
    if (!held) {
      unlock_all();
      return false;
    }
  }
  return true;
}

void HomeLock::unlock_all() {
  if (!locked_) return;
  for (ParamCell* c : cells_) c->mu_.unlock();
  for (std::mutex* m : programs_)
    if (m != kept_) m->unlock();
  locked_ = false;
}

void HomeLock::keep_only(std::mutex* m) {
  kept_ = m;
  unlock_all();
}

float* HomeLock::data(ParamCell* c) const {
  return c->home_id_ ? c->home_id_->params_.data() + c->offset_ : c->storage_->data() + c->offset_;
}

void read_cells(const std::vector<ParamCell*>& cells, const std::vector<float*>& out) {
  BC_CHECK(cells.size() == out.size(), "read_cells needs one output per cell");
  ForkGate gate;
  HomeLock h(cells, nullptr);
  for (size_t i = 0; i < cells.size(); ++i) copy_floats(out[i], h.data(cells[i]), cells[i]->size());
}

void write_cells(const std::vector<ParamCell*>& cells, const std::vector<const float*>& in) {
  BC_CHECK(cells.size() == in.size(), "write_cells needs one value per cell");
  ForkGate gate;
  HomeLock h(cells, nullptr);
  for (size_t i = 0; i < cells.size(); ++i) copy_floats(h.data(cells[i]), in[i], cells[i]->size());
}

// -- ParamHomes -------------------------------------------------------------------------------

void ParamHomes::link(Program& self, const std::vector<std::pair<size_t, std::shared_ptr<ParamCell>>>& links) {
  BC_CHECK(self.finalized_, "link_params() needs a finalized program");
  BC_CHECK(links_.empty(), "a program's parameters are linked once");
  BC_CHECK(!self.weak_from_this().expired(), "link_params() needs a program owned by a shared_ptr");
  std::set<const ParamCell*> cells;
  std::set<size_t> offsets;
  std::vector<Link> v;
  for (const auto& [offset, cell] : links) {
    BC_CHECK(cell != nullptr, "link_params() got no cell");
    const Segment& s = self.segment_at(offset);
    BC_CHECK(s.size == cell->size(), "a cell of " + std::to_string(cell->size()) + " values cannot hold the " +
                                         std::to_string(s.size) + "-value parameter at offset " + std::to_string(offset));
    BC_CHECK(cells.insert(cell.get()).second, "a cell is linked to two parameters of one program");
    BC_CHECK(offsets.insert(offset).second, "a parameter is linked to two cells");
    v.push_back({offset, cell});
  }
  spare_ = std::make_shared<AlignedBuf>();
  links_ = std::move(v);
  stolen_.store(true);
  ParamLock brought_home(*this, self);  // every value comes home
}

std::unique_lock<std::mutex> ParamHomes::lock(Program& self) {
  std::unique_lock<std::mutex> lk(self.mu_);
  if (!stolen_.load(std::memory_order_acquire)) return lk;
  lk.unlock();
  claim(self);  // returns holding self.mu_
  return std::unique_lock<std::mutex>(self.mu_, std::adopt_lock);
}

void ParamHomes::claim(Program& self) {
  std::vector<ParamCell*> cells;
  cells.reserve(links_.size());
  for (const auto& l : links_) cells.push_back(l.cell.get());
  HomeLock h(cells, &self);
  float* arena = self.params_.data();
  for (const auto& l : links_) {
    ParamCell* c = l.cell.get();
    if (c->home_id_ == &self) continue;
    copy_floats(arena + l.offset, h.data(c), c->size());
    if (c->home_id_) c->home_id_->homes_.stolen_.store(true, std::memory_order_release);
    c->home_ = self.weak_from_this();
    c->home_id_ = &self;
    c->offset_ = l.offset;
    c->storage_.reset();  // a dead program's arena goes with the last value it held
    c->version_.fetch_add(1, std::memory_order_acq_rel);
  }
  stolen_.store(false, std::memory_order_release);
  h.keep_only(&self.mu_);
}

void ParamHomes::release(Program& self) noexcept {
  // No one else can reach self now (every user holds a shared_ptr), so its arena is moved, not
  // copied, to the cells it is home of; spare_ was allocated at link() so nothing allocates here.
  ForkGate gate;
  bool moved = false;
  for (const auto& l : links_) {
    ParamCell* c = l.cell.get();
    std::lock_guard<std::mutex> g(c->mu_);
    if (c->home_id_ != &self) continue;
    if (!moved) {
      *spare_ = std::move(self.params_);
      moved = true;
    }
    c->storage_ = spare_;
    c->offset_ = l.offset;
    c->home_.reset();
    c->home_id_ = nullptr;
    c->version_.fetch_add(1, std::memory_order_acq_rel);
  }
}

}  // namespace bc
