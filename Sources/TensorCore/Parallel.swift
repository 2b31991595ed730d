import CBLAS
import Dispatch
import Foundation

/// Threading policy for every kernel. Work is split into `threads` contiguous chunks whose
/// boundaries depend only on the problem size and the thread count, and every reduction
/// combines partial results in chunk order, so a fixed thread count gives bit-identical results.
public enum Parallel {
    /// Worker count; `REPLICATE_THREADS` overrides the number of cores.
    nonisolated(unsafe) public private(set) static var threads: Int = {
        if let s = ProcessInfo.processInfo.environment["REPLICATE_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    nonisolated(unsafe) private static var blasConfigured = false

    /// Set the worker count. OpenBLAS is pinned to one thread: we split GEMMs ourselves, so
    /// its own pool would only spin against our workers on a 2-core machine.
    public static func setThreads(_ n: Int) {
        precondition(n > 0, "thread count must be positive")
        threads = n
        configureBLAS()
    }

    static func configureBLAS() {
        if !blasConfigured { openblas_set_num_threads(1); blasConfigured = true }
    }

    /// Run `body` on `0..<n` split into at most `threads` contiguous ranges. `grain` is the
    /// smallest range worth a thread (small problems run inline: dispatch costs ~10 µs).
    @inline(__always)
    public static func forEachChunk(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = Swift.min(threads, Swift.max(1, n / Swift.max(grain, 1)))
        if chunks <= 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            body(chunkRange(c, of: chunks, n))
        }
    }

    /// As `forEachChunk`, also passing the chunk's index, for callers that keep per-chunk partial sums.
    @inline(__always)
    public static func forEachIndexedChunk(_ n: Int, grain: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(n, grain: grain)
        if chunks <= 1 { body(0, 0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in body(c, chunkRange(c, of: chunks, n)) }
    }

    /// Number of chunks `forEachChunk` would use: callers that keep per-chunk partials size them by it.
    public static func chunkCount(_ n: Int, grain: Int = 1) -> Int { Swift.min(threads, Swift.max(1, n / Swift.max(grain, 1))) }

    /// Run `body(chunk, segment, range)` over segments of the given lengths laid end to end,
    /// the concatenation cut into at most `threads` near-equal contiguous chunks (so many small
    /// tensors are spread as evenly as one large one). Each piece is a range within one
    /// segment; a chunk's pieces come in segment order. Chunks depend only on the lengths and
    /// the thread count.
    public static func forEachSegmentPiece(_ lengths: [Int], grain: Int = 1 << 14,
                                           _ body: (_ chunk: Int, _ segment: Int, _ range: Range<Int>) -> Void) {
        let total = lengths.reduce(0, +)
        var starts = [Int](repeating: 0, count: lengths.count)
        for s in lengths.indices.dropFirst() { starts[s] = starts[s - 1] + lengths[s - 1] }
        forEachIndexedChunk(total, grain: grain) { c, r in
            var s = 0
            while s < lengths.count && starts[s] + lengths[s] <= r.lowerBound { s += 1 }
            while s < lengths.count && starts[s] < r.upperBound {
                let lo = Swift.max(r.lowerBound, starts[s]) - starts[s], hi = Swift.min(r.upperBound, starts[s] + lengths[s]) - starts[s]
                if lo < hi { body(c, s, lo..<hi) }
                s += 1
            }
        }
    }

    /// The c-th of `chunks` near-equal contiguous ranges of 0..<n.
    @inline(__always)
    public static func chunkRange(_ c: Int, of chunks: Int, _ n: Int) -> Range<Int> {
        let base = n / chunks, extra = n % chunks
        let lo = c * base + Swift.min(c, extra)
        return lo..<(lo + base + (c < extra ? 1 : 0))
    }
}
