import Dispatch
import Foundation
import Testing
import LeanAttention

/// The pool's promise: all `count` workers are live at once, even far more than the cores, which
/// is what lets a LeanAttention host block until the head's other workers have published.
@Suite struct WorkerPoolTests {
    /// A barrier across 64 workers on a 2-core machine: every worker waits (with a timeout)
    /// until all 64 have arrived. With at most one worker per core running at a time (as with
    /// `concurrentPerform`), the first workers would time out.
    @Test func workersAreCoResident() {
        let g = 64
        let pool = WorkerPool(workers: g)
        let lock = NSLock()
        var arrived = 0
        let allIn = DispatchSemaphore(value: 0)
        var timedOut = 0
        pool.run { _ in
            lock.lock(); arrived += 1; let last = arrived == g; lock.unlock()
            if last { for _ in 0..<g { allIn.signal() } }
            if allIn.wait(timeout: .now() + 20) == .timedOut { lock.lock(); timedOut += 1; lock.unlock() }
        }
        #expect(arrived == g && timedOut == 0)
    }

    /// `run` calls body once per worker index and returns only after all have finished; the pool
    /// can be reused.
    @Test func everyIndexOnce() {
        let pool = WorkerPool(workers: 5)
        for _ in 0..<3 {
            let lock = NSLock()
            var seen: [Int] = []
            pool.run { w in usleep(1000); lock.lock(); seen.append(w); lock.unlock() }
            #expect(seen.sorted() == [0, 1, 2, 3, 4])
        }
    }

    /// The shared counter hands out each index exactly once across workers.
    @Test func counterHandsOutEachIndexOnce() {
        let pool = WorkerPool(workers: 4)
        let counter = WorkCounter()
        let lock = NSLock()
        var got: [Int] = []
        pool.run { _ in
            while true {
                let i = counter.next()
                if i >= 1000 { return }
                lock.lock(); got.append(i); lock.unlock()
            }
        }
        #expect(got.sorted() == Array(0..<1000))
    }
}
