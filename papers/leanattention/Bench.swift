// Helpers for main.swift: the K/V arena, one timed grid point, the work-assignment picture and
// small formatting functions. The kernels, schedules and model live in LeanAttention/ (the library bench and the tests import).

import Foundation
import LeanAttention
import Replicate

/// Kernels 2–4 in a fixed order (the index used by every [3]-array below).
let kernelNames = ["fa2", "flashdecoding", "lean"]

/// One big block of random floats from which every timed K and V is cut. Consecutive calls
/// get consecutive regions (wrapping around), so a timed call never finds its K/V in cache
/// from the previous call: decode attention reads a KV cache that has been out of cache since
/// the last layer used it.
final class Arena: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let count: Int
    private var cursor = 0

    init(bytes: Int, seed: UInt64, pool: WorkerPool) {
        count = bytes / 4
        base = .allocate(capacity: count)
        fillUniform(base, count: count, seed: seed, pool: pool)
    }

    deinit { base.deallocate() }

    /// A region of `floats` floats (16-float aligned), the next one along.
    func next(_ floats: Int) -> UnsafeMutablePointer<Float> {
        precondition(floats <= count, "region of \(floats) floats does not fit the arena (\(count))")
        if cursor + floats > count { cursor = 0 }
        defer { cursor += (floats + 15) & ~15 }
        return base + cursor
    }
}

/// One (d, B·H, N) point of the CPU sweep.
struct TimedPoint {
    var d: Int
    var bh: Int
    var n: Int
    /// Median and fastest seconds per kernel (fa2, flashdecoding, lean).
    var median: [Double]
    var fastest: [Double]
    var reps: Int
    /// FlashDecoding's split count at this point.
    var splits: Int
    /// Max relative error vs the float64 reference on the checked rows, per kernel.
    var error: [Double]
    var checkedRows: Int

    var kvBytes: Double { 2 * Double(bh * n * d) * 4 }
    /// K+V GB/s of each kernel (median time).
    var gbPerS: [Double] { median.map { kvBytes / $0 / 1e9 } }
    var leanVsFA2: Double { median[0] / median[2] }
    var leanVsFD: Double { median[1] / median[2] }
}

/// Check kernels 2–4 against the float64 reference at this shape, then time them, interleaved
/// (each repetition runs all three in a rotating order, each on fresh K/V from the arena),
/// until `minReps` repetitions and `seconds` have passed (at most `maxReps`).
func timePoint(d: Int, bh: Int, n: Int, arena: Arena, pool: WorkerPool, seed: UInt64,
               minReps: Int, maxReps: Int, seconds: Double) -> TimedPoint {
    let floats = bh * n * d
    var rng = RNG(seed: seed)
    let q = (0..<(bh * d)).map { _ in 2 * rng.nextFloat() - 1 }
    var outs = [[Float]](repeating: [Float](repeating: .nan, count: bh * d), count: 3)
    var splits = 1
    func call(_ kernel: Int, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>) {
        q.withUnsafeBufferPointer { qb in
            outs[kernel].withUnsafeMutableBufferPointer { ob in
                let p = DecodeProblem(q: qb.baseAddress!, k: k, v: v, rows: bh, length: n, dim: d)
                switch kernel {
                case 0: fa2DecodeAttention(p, out: ob.baseAddress!, pool: pool)
                case 1: splits = flashDecodingAttention(p, out: ob.baseAddress!, pool: pool).splits
                default: leanDecodeAttention(p, out: ob.baseAddress!, pool: pool)
                }
            }
        }
    }

    // Exactness first (on the arena's first region, so the checked data do not depend on how
    // many repetitions earlier points took): all rows when small, else the first and last row.
    let k = arena.base, v = k + floats
    for kernel in 0..<3 { call(kernel, k, v) }
    let rows = bh * n <= (1 << 18) ? Array(0..<bh) : Array(Set([0, bh - 1])).sorted()
    let ref = q.withUnsafeBufferPointer { qb in
        referenceDecodeAttention(DecodeProblem(q: qb.baseAddress!, k: k, v: v, rows: bh, length: n, dim: d), rows: rows)
    }
    let errors = (0..<3).map { kernel in outs[kernel].withUnsafeBufferPointer { maxRelativeError($0.baseAddress!, ref, dim: d, rows: rows) } }

    var times = [[Double]](repeating: [], count: 3)
    let start = now()
    var rep = 0
    while rep < maxReps && (rep < minReps || now() - start < seconds) {
        for j in 0..<3 {
            let kernel = (rep + j) % 3
            let k = arena.next(2 * floats)
            let t0 = now()
            call(kernel, k, k + floats)
            times[kernel].append(now() - t0)
        }
        rep += 1
    }
    return TimedPoint(d: d, bh: bh, n: n, median: times.map(median), fastest: times.map { $0.min()! }, reps: rep,
                      splits: splits, error: errors, checkedRows: rows.count)
}

/// Seconds for one empty `pool.run` round trip (wake every worker, wait for all): the CPU's
/// "kernel launch". Median of `count`.
func poolRoundTrip(_ pool: WorkerPool, count: Int = 2000) -> Double {
    var t: [Double] = []
    for _ in 0..<count {
        let t0 = now()
        pool.run { _ in }
        t.append(now() - t0)
    }
    return median(t)
}

// MARK: - Work-assignment picture

/// Which worker processes which tile, and when: rows are workers (GPU: CTA slots), columns
/// global tiles gid = head·nb + t, the value the 1-based step (in tile-times) at which that
/// worker processes that tile, 0 where it does not. FA2 and FlashDecoding CTAs go to the
/// slot that frees up first (lowest index on ties), as a block scheduler does; LeanAttention's
/// G = slots workers take their closed-form ranges. Returns the matrix and each kernel's makespan.
func assignment(heads: Int, tilesPerHead nb: Int, slots: Int) -> (values: [Double], rows: Int, cols: Int, labels: [String], makespan: [Int]) {
    let cols = heads * nb
    var blocks: [[Double]] = [], labels: [String] = [], makespans: [Int] = []
    func listSchedule(_ ctas: [Range<Int>]) -> ([Double], Int) {        // ctas: global tile ranges
        var m = [Double](repeating: 0, count: slots * cols)
        var clock = [Int](repeating: 0, count: slots)
        for r in ctas {
            let s = clock.indices.min { clock[$0] < clock[$1] || (clock[$0] == clock[$1] && $0 < $1) }!
            for (i, gid) in r.enumerated() { m[s * cols + gid] = Double(clock[s] + i + 1) }
            clock[s] += r.count
        }
        return (m, clock.max()!)
    }
    // FA2: one CTA per head.
    let fa2 = listSchedule((0..<heads).map { ($0 * nb)..<(($0 + 1) * nb) })
    // FlashDecoding: s pieces per head.
    let s = flashDecodingSplits(batchHeads: heads, slots: slots, blocks: nb)
    let fds = FlashDecodingSchedule(tilesPerHead: nb, heads: heads, splits: s)
    let fd = listSchedule((0..<fds.ctas).map { c in
        let t = fds.tiles(split: c % s)
        return (c / s * nb + t.lowerBound)..<(c / s * nb + t.upperBound)
    }.filter { !$0.isEmpty })
    // LeanAttention: worker w takes range(w).
    let ls = LeanSchedule(tilesPerHead: nb, heads: heads, workers: slots)
    var lean = [Double](repeating: 0, count: slots * cols)
    for w in 0..<slots { for (i, gid) in ls.range(w).enumerated() { lean[w * cols + gid] = Double(i + 1) } }
    for (name, (m, span)) in [("FA2", fa2), ("FD s=\(s)", fd), ("Lean", (lean, ls.maxTiles))] {
        if !blocks.isEmpty { blocks.append([Double](repeating: .nan, count: cols)); labels.append("") }
        for w in 0..<slots { blocks.append(Array(m[(w * cols)..<((w + 1) * cols)])); labels.append("\(name) w\(w)") }
        makespans.append(span)
    }
    return (blocks.flatMap { $0 }, blocks.count, cols, labels, makespans)
}

// MARK: - Formatting

func fmt(_ x: Double, _ digits: Int = 2) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "–" }
func sci(_ x: Double) -> String { String(format: "%.1e", x) }
func contextLabel(_ n: Int) -> String { n >= 1024 ? "\(n / 1024)k" : "\(n)" }
