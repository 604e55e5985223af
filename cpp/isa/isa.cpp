#include "isa/isa.h"

#include <unistd.h>

#include "core/common.h"

namespace bc {
namespace isa {

namespace {

unsigned detect() {
  __builtin_cpu_init();
  unsigned f = 0;
  if (__builtin_cpu_supports("fma")) f |= FMA;
  if (__builtin_cpu_supports("avx2")) f |= AVX2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    f |= AVX512;
  if (__builtin_cpu_supports("avxvnni")) f |= AVXVNNI;
  if (__builtin_cpu_supports("avx512vnni")) f |= AVX512VNNI;
  return f;
}

// The names set_isa accepts (isa.h has the table), lowest first.
constexpr Path kNames[] = {
    {"ref", 0},
    {"avx2", AVX2 | FMA},
    {"avxvnni", AVX2 | FMA | AVXVNNI},
    {"avx512", AVX2 | FMA | AVX512},
    {"avx512vnni", AVX2 | FMA | AVX512 | AVX512VNNI},
};

const Path* find(const std::string& name) {
  for (const Path& p : kNames)
    if (name == p.name) return &p;
  return nullptr;
}

std::string missing(unsigned needs) {
  std::string s;
  const std::pair<Feature, const char*> names[] = {{AVX2, "avx2"}, {FMA, "fma"}, {AVX512, "avx512f/bw/dq/vl"},
                                                   {AVXVNNI, "avxvnni"}, {AVX512VNNI, "avx512vnni"}};
  for (const auto& [f, n] : names)
    if ((needs & f) && !(cpu() & f)) s += std::string(s.empty() ? "" : " ") + n;
  return s;
}

struct Registry {
  const Path* level = nullptr;             // the name in force
  std::vector<Family> families;
  std::vector<const char*> installed;      // per family, its path in use
};

Registry& registry() {
  static Registry r;
  if (!r.level) r.level = find(best());
  return r;
}

// The best path of f needing nothing beyond `features`.
const char* pick(const Family& f, unsigned features) {
  for (const Path& p : f.paths)
    if ((p.needs & ~features) == 0) return p.name;
  return f.paths.back().name;
}

}  // namespace

unsigned cpu() {
  static const unsigned features = detect();
  return features;
}

long l1d_bytes() {
  static const long bytes = [] {
#ifdef _SC_LEVEL1_DCACHE_SIZE  // glibc
    const long b = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    if (b > 0) return b;
#endif
    return 32L << 10;
  }();
  return bytes;
}

std::string feature_names() {
  __builtin_cpu_init();
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (on) s += std::string(s.empty() ? "" : " ") + name;
  };
  add(__builtin_cpu_supports("sse4.2"), "sse4.2");
  add(__builtin_cpu_supports("avx"), "avx");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("fma"), "fma");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(__builtin_cpu_supports("avx512bw"), "avx512bw");
  add(__builtin_cpu_supports("avx512dq"), "avx512dq");
  add(__builtin_cpu_supports("avx512vl"), "avx512vl");
  add(__builtin_cpu_supports("avx512vnni"), "avx512vnni");
  add(__builtin_cpu_supports("avxvnni"), "avxvnni");
  return s;
}

bool supported(const std::string& name) {
  const Path* p = find(name);
  return p && has(p->needs);
}

std::string best() {
  const char* b = "ref";
  for (const Path& p : kNames)
    if (has(p.needs)) b = p.name;
  return b;
}

std::vector<std::string> names() {
  std::vector<std::string> v;
  for (const Path& p : kNames) v.push_back(p.name);
  return v;
}

std::string current() { return registry().level->name; }

bool add_family(const Family& family) {
  Registry& r = registry();
  BC_CHECK(!family.paths.empty() && family.paths.back().needs == 0,
           std::string("kernel family ") + family.name + " needs a last path that runs on any CPU");
  r.families.push_back(family);
  r.installed.push_back(pick(family, r.level->needs));
  family.install(r.installed.back());
  return true;
}

void set_isa(const std::string& name) {
  const Path* level = find(name);
  if (!level) {
    std::string all;
    for (const Path& p : kNames) all += std::string(all.empty() ? "'" : ", '") + p.name + "'";
    throw std::invalid_argument("set_cpu_isa expects one of " + all + ", got '" + name + "'");
  }
  BC_CHECK(has(level->needs), "this CPU cannot run set_cpu_isa('" + name + "'): it lacks " + missing(level->needs) +
                                  " (CPU features: " + feature_names() + ")");
  Registry& r = registry();
  r.level = level;
  for (size_t i = 0; i < r.families.size(); ++i) {
    r.installed[i] = pick(r.families[i], level->needs);
    r.families[i].install(r.installed[i]);
  }
}

std::vector<std::pair<std::string, std::string>> paths() {
  const Registry& r = registry();
  std::vector<std::pair<std::string, std::string>> v;
  for (size_t i = 0; i < r.families.size(); ++i) v.emplace_back(r.families[i].name, r.installed[i]);
  return v;
}

}  // namespace isa
}  // namespace bc
