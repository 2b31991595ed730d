import Dispatch
import Foundation
import Synchronization

/// A persistent grid of `count` real threads, the CPU stand-in for a GPU's resident CTAs.
///
/// `run(body)` calls body(0..<count) with every worker live at the same time (worker 0 on the
/// calling thread), and returns when all have finished. Unlike `DispatchQueue.concurrentPerform`,
/// which runs at most one iteration per core, all `count` workers are co-resident even when
/// they outnumber the cores, so a worker may block waiting for another (LeanAttention's host
/// waits for its head's other workers) without deadlock. Idle workers sleep on a semaphore.
///
///     let pool = WorkerPool(workers: 4)
///     pool.run { w in print(w) }
public final class WorkerPool {
    public let count: Int
    private let state: PoolState
    private let busy = NSLock()

    public init(workers: Int) {
        precondition(workers >= 1, "a pool needs at least one worker")
        count = workers
        state = PoolState(workers: workers)
        for i in 1..<Swift.max(1, workers) {
            let s = state
            let t = Thread { s.loop(i) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit { state.shutdown() }

    /// body(w) for every worker w, all at once; returns when every call has returned. Calls
    /// from several threads take turns (body must not call `run` on the same pool).
    public func run(_ body: @escaping (Int) -> Void) {
        busy.lock(); defer { busy.unlock() }
        if count == 1 { body(0); return }
        state.job = body
        for i in 1..<count { state.wake[i].signal() }
        body(0)
        for _ in 1..<count { state.done.wait() }
        state.job = nil
    }
}

/// What the pool's threads share; kept apart from `WorkerPool` so that the threads never
/// reference the pool object (whose deinit stops them).
private final class PoolState {
    let wake: [DispatchSemaphore]
    let done = DispatchSemaphore(value: 0)
    let exited = DispatchSemaphore(value: 0)
    // Written before the wake-up signal and read after it: the semaphore orders the accesses.
    var job: ((Int) -> Void)?
    var stopping = false

    init(workers: Int) { wake = (0..<workers).map { _ in DispatchSemaphore(value: 0) } }

    func loop(_ i: Int) {
        while true {
            wake[i].wait()
            if stopping { exited.signal(); return }
            job!(i)
            done.signal()
        }
    }

    func shutdown() {
        stopping = true
        for i in 1..<Swift.max(1, wake.count) { wake[i].signal() }
        for _ in 1..<Swift.max(1, wake.count) { exited.wait() }
    }
}

/// A shared counter for dynamic work distribution (a GPU's block scheduler handing the next
/// CTA to whichever SM frees up first).
public final class WorkCounter {
    private let value = Atomic<Int>(0)
    public init() {}
    /// The next index, starting at 0.
    @inline(__always) public func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
