// service/thread_pool.h. A fixed pool of threads draining a bounded FIFO of tasks. Used for
// handlers that may block (database, disk) so that Pistache's I/O threads never do.
// Thread-safe. The destructor stops accepting, runs what is queued and joins.
#ifndef SAFEFLOW_SERVICE_THREAD_POOL_H_
#define SAFEFLOW_SERVICE_THREAD_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace safeflow::service {

class ThreadPool {
 public:
  ThreadPool(int threads, std::size_t max_queue);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  // False when the queue is full or the pool is stopping: the caller must answer itself.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);
  // Stops accepting, finishes queued and running tasks, joins. Idempotent.
  void Stop();
  std::size_t queued() const;
  int busy() const;

 private:
  void Loop();

  const std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  int busy_ = 0;                             // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_THREAD_POOL_H_
