import CBLAS
import Dispatch
import Foundation

/// Threading policy for every kernel. Work is split into `threads` contiguous chunks whose
/// boundaries depend only on the problem size and the thread count, and every reduction
/// combines partial results in chunk order, so a fixed thread count gives bit-identical results.
public enum Parallel {
    /// The process-wide worker count: `REPLICATE_THREADS`, else the number of cores.
    nonisolated(unsafe) private static var processThreads: Int = {
        if let s = ProcessInfo.processInfo.environment["REPLICATE_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    /// A count bound by `withThreads` for one task (and the workers it starts), so code that
    /// wants another count (the thread-count tests, run beside other tests in one process)
    /// does not change it under work in flight elsewhere: a count changing between sizing
    /// per-chunk partials and filling them wrote past their end.
    @TaskLocal private static var scopedThreads: Int?

    nonisolated(unsafe) private static var blasConfigured = false

    /// Worker count in effect here: the one bound by `withThreads`, else the process-wide one.
    public static var threads: Int { scopedThreads ?? processThreads }

    /// Set the process-wide worker count, once at start-up before any work (the command line's
    /// `--threads`). OpenBLAS is pinned to one thread: we split GEMMs ourselves, so its own
    /// pool would only spin against our workers on a 2-core machine.
    public static func setThreads(_ n: Int) {
        precondition(n > 0, "thread count must be positive")
        processThreads = n
        configureBLAS()
    }

    /// Run `body` with `n` workers, for this task only; other tasks keep their count.
    public static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        precondition(n > 0, "thread count must be positive")
        configureBLAS()
        return try $scopedThreads.withValue(n) { try body() }
    }

    static func configureBLAS() {
        if !blasConfigured { openblas_set_num_threads(1); blasConfigured = true }
    }

    /// Run `job(0..<chunks)` concurrently. A count bound by `withThreads` is bound again on
    /// each worker, so parallel code nested in a chunk sees the same count.
    @inline(__always)
    static func perform(_ chunks: Int, _ job: (Int) -> Void) {
        if let scoped = scopedThreads {
            DispatchQueue.concurrentPerform(iterations: chunks) { c in $scopedThreads.withValue(scoped) { job(c) } }
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: job)
        }
    }

    /// Run `body` on `0..<n` split into at most `threads` contiguous ranges. `grain` is the
    /// smallest range worth a thread (small problems run inline: dispatch costs ~10 µs).
    @inline(__always)
    public static func forEachChunk(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = chunkCount(n, grain: grain)
        if chunks <= 1 { body(0..<n); return }
        perform(chunks) { c in body(chunkRange(c, of: chunks, n)) }
    }

    /// As `forEachChunk` split into exactly `chunks` ranges (from `chunkCount`), passing each
    /// range's index, for callers that keep per-chunk partials: they size them by the same
    /// `chunks` they pass here, so the two cannot disagree.
    @inline(__always)
    public static func forEachIndexedChunk(_ n: Int, chunks: Int, _ body: (Int, Range<Int>) -> Void) {
        precondition(chunks >= 1, "chunk count must be positive")
        if chunks == 1 { body(0, 0..<n); return }
        perform(chunks) { c in body(c, chunkRange(c, of: chunks, n)) }
    }

    /// Number of chunks `forEachChunk` uses for `n` items: at most `threads`, each ≥ `grain`.
    public static func chunkCount(_ n: Int, grain: Int = 1) -> Int { Swift.min(threads, Swift.max(1, n / Swift.max(grain, 1))) }

    /// Run `body(chunk, segment, range)` over segments of the given lengths laid end to end,
    /// the concatenation cut into `chunks` near-equal contiguous pieces (so many small tensors
    /// are spread as evenly as one large one; `segmentChunkCount` gives the usual count). Each
    /// piece is a range within one segment; a chunk's pieces come in segment order. Chunks
    /// depend only on the lengths and the chunk count.
    public static func forEachSegmentPiece(_ lengths: [Int], chunks: Int,
                                           _ body: (_ chunk: Int, _ segment: Int, _ range: Range<Int>) -> Void) {
        var starts = [Int](repeating: 0, count: lengths.count)
        for s in lengths.indices.dropFirst() { starts[s] = starts[s - 1] + lengths[s - 1] }
        let total = lengths.reduce(0, +)
        forEachIndexedChunk(total, chunks: chunks) { c, r in
            var s = 0
            while s < lengths.count && starts[s] + lengths[s] <= r.lowerBound { s += 1 }
            while s < lengths.count && starts[s] < r.upperBound {
                let lo = Swift.max(r.lowerBound, starts[s]) - starts[s], hi = Swift.min(r.upperBound, starts[s] + lengths[s]) - starts[s]
                if lo < hi { body(c, s, lo..<hi) }
                s += 1
            }
        }
    }

    /// Chunk count for `forEachSegmentPiece` over segments of these lengths.
    public static func segmentChunkCount(_ lengths: [Int], grain: Int = 1 << 14) -> Int {
        chunkCount(lengths.reduce(0, +), grain: grain)
    }

    /// The c-th of `chunks` near-equal contiguous ranges of 0..<n.
    @inline(__always)
    public static func chunkRange(_ c: Int, of chunks: Int, _ n: Int) -> Range<Int> {
        let base = n / chunks, extra = n % chunks
        let lo = c * base + Swift.min(c, extra)
        return lo..<(lo + base + (c < extra ? 1 : 0))
    }
}
