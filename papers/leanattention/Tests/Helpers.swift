import Foundation
import LeanAttention

typealias Inputs = DecodeInputs
typealias Kernel = AttentionKernel

func run(_ kernel: Kernel, _ x: Inputs, pool: WorkerPool, tileTokens: Int? = nil, splits: Int? = nil,
         scratch: LeanScratch? = nil) -> [Float] {
    x.run(kernel, pool: pool, tileTokens: tileTokens, splits: splits, scratch: scratch)
}

func relativeError(_ out: [Float], _ ref: (out: [Double], mag: [Double]), d: Int) -> Double {
    relativeError(out, ref, dim: d)
}

/// One pool per worker count, made once (thread start-up is the slow part); `WorkerPool.run`
/// serialises concurrent callers, so tests running in parallel may share them.
nonisolated(unsafe) private var pools: [Int: WorkerPool] = [:]
private let poolLock = NSLock()
func pool(_ g: Int) -> WorkerPool {
    poolLock.lock(); defer { poolLock.unlock() }
    if let p = pools[g] { return p }
    let p = WorkerPool(workers: g)
    pools[g] = p
    return p
}
