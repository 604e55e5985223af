// The thread count of bigcore's OpenMP loops and GEMM tiles, and what fork() does to it.
//
// GNU OpenMP keeps its worker threads after a parallel region; a child made by fork() inherits the
// pool's bookkeeping but not the threads, and its first region with more than one thread waits for
// them forever. So, as PyTorch does, a process forked after bigcore may have started threads runs
// single-threaded (pthread_atfork); its results are the same bits, whatever the thread count.
#pragma once

namespace bc {

void set_num_threads(int n);  // n in [1, max_threads()]; a forked child (above) takes only 1
int get_num_threads();
int max_threads();            // the most set_num_threads accepts: 4 per CPU, and at least 64
bool forked_single_threaded();  // true in a child forked after bigcore may have started threads

// A count of the GEMMs that ran on several threads: a step that started some left the team's
// threads spinning, so a small parallel loop after it is cheap; in a step that started none they
// may sleep, and waking them (in this VM: up to ~0.2 ms) costs more than a small loop saves.
// Only a scheduling hint: no result depends on it.
void note_team_used();
unsigned long team_uses();
// Whether a parallel GEMM started within the last 0.1 ms: the team's threads still spin, so even a
// small product gains from them (their wake-up is what made small products stay on one thread).
bool team_spinning();

}  // namespace bc
