// A data-parallel job in which rank 1 meets bad data while the others wait in a collective: run by
// distributed_failing_rank.sh, which checks that every rank ends quickly with one clear line.
#include <cstdio>
#include <stdexcept>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/distributed/distributed.hpp"

int main() {
  namespace dist = tg::distributed;
  try {
    const dist::World& w = dist::init();
    if (w.rank == 1) throw tg::Error("names shard 1: line 3 is empty");
    dist::all_reduce_sum(1.0);  // rank 1 never arrives: without an abort this waits forever
    std::puts("a rank passed the collective that rank 1 never joined");
    return 0;
  } catch (const std::exception& e) {
    dist::abort_job(e.what());
  }
}
