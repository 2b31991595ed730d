import Dispatch
import Foundation
import TensorCore

// Single-query ("decode") attention, four ways (numbered as in the issue; each fast kernel is
// checked against kernel 1 before it is timed):
//   1. float64 reference: direct softmax;
//   2. FlashAttention-2 style: one worker per (batch, head) row, online softmax over the
//      whole context; rows handed out dynamically, like CTAs to free SMs;
//   3. FlashDecoding: each row split into FlashAttention's heuristic number of pieces, the
//      pieces handed out dynamically, then a second pass merges each row's pieces in LSE form;
//   4. LeanAttention: the B·H·nb tiles split evenly over G co-resident workers (stream-K);
//      non-host workers publish their head's partial (m, l, O), each head's host merges them
//      in-kernel with the softmax re-scaling operator; no second pass.
// All three fast kernels use the same inner loop (TensorCore's `decodeAttentionAccumulate`)
// and the same worker pool, so their times differ only by schedule.
//
// Shapes: q (rows, d), k and v (rows, N, d) contiguous with rows = B·H, out (rows, d).

/// A decode-attention problem on raw pointers.
public struct DecodeProblem {
    public var q: UnsafePointer<Float>
    public var k: UnsafePointer<Float>
    public var v: UnsafePointer<Float>
    /// B·H.
    public var rows: Int
    /// Context length N.
    public var length: Int
    /// Head dim d (a multiple of 8).
    public var dim: Int
    /// Multiplies q·k; usually 1/√d.
    public var scale: Float
    /// Tokens per LeanTile (the split granularity of kernels 3 and 4).
    public var tileTokens: Int

    public init(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rows: Int, length: Int,
                dim: Int, scale: Float? = nil, tileTokens: Int? = nil) {
        precondition(rows >= 1 && length >= 1, "need ≥ 1 row and ≥ 1 key (rows \(rows), N \(length))")
        precondition(dim > 0 && dim % 8 == 0, "head dim must be a positive multiple of 8, got \(dim)")
        self.q = q; self.k = k; self.v = v; self.rows = rows; self.length = length; self.dim = dim
        self.scale = scale ?? 1 / Float(dim).squareRoot()
        self.tileTokens = tileTokens ?? leanTileTokens(headDim: dim)
        precondition(self.tileTokens >= 1, "tile must hold ≥ 1 token")
    }

    /// nb = ⌈N / bn⌉.
    public var tilesPerHead: Int { ceilDiv(length, tileTokens) }

    /// Tokens of tiles `t` of a head.
    @inline(__always) func tokens(_ t: Range<Int>) -> Range<Int> {
        (t.lowerBound * tileTokens)..<Swift.min(length, t.upperBound * tileTokens)
    }

    /// (m, l, o) ← partial of `row` over `keys`, from scratch (identity when keys is empty).
    @inline(__always) func partial(row: Int, keys: Range<Int>, m: inout Float, l: inout Float, o: UnsafeMutablePointer<Float>) {
        m = -.infinity; l = 0
        o.update(repeating: 0, count: dim)
        decodeAttentionAccumulate(q: q + row * dim, k: k + row * length * dim, v: v + row * length * dim,
                                  keys: keys, dim: dim, scale: scale, m: &m, l: &l, o: o)
    }

    /// K+V bytes every kernel reads once: 2·rows·N·d·4.
    public var kvBytes: Int { 2 * rows * length * dim * MemoryLayout<Float>.size }
}

// MARK: - 1. float64 reference

/// Direct softmax in float64 from the float32 inputs: out = Σ_j p_j v_j with p = softmax(s),
/// s_j = scale·q·k_j; also mag = Σ_j p_j |v_j| per output, the scale rounding error is judged
/// against (the weighted sum's size before cancellation). `rowList` limits the rows computed
/// (others are left 0).
public func referenceDecodeAttention(_ p: DecodeProblem, rows rowList: [Int]? = nil) -> (out: [Double], mag: [Double]) {
    let (n, d) = (p.length, p.dim)
    var out = [Double](repeating: 0, count: p.rows * d), mag = out
    var s = [Double](repeating: 0, count: n)
    for r in rowList ?? Array(0..<p.rows) {
        let q = p.q + r * d, k = p.k + r * n * d, v = p.v + r * n * d
        var m = -Double.infinity
        for j in 0..<n {
            var acc = 0.0
            let kj = k + j * d
            for i in 0..<d { acc += Double(q[i]) * Double(kj[i]) }
            s[j] = acc * Double(p.scale)
            m = Swift.max(m, s[j])
        }
        var l = 0.0
        for j in 0..<n { s[j] = Foundation.exp(s[j] - m); l += s[j] }
        out.withUnsafeMutableBufferPointer { ob in
            mag.withUnsafeMutableBufferPointer { mb in
                let o = ob.baseAddress! + r * d, g = mb.baseAddress! + r * d
                for j in 0..<n {
                    let w = s[j] / l
                    let vj = v + j * d
                    for i in 0..<d { let x = Double(vj[i]); o[i] += w * x; g[i] += w * Swift.abs(x) }
                }
            }
        }
    }
    return (out, mag)
}

/// Largest |ours − ref| / (Σ p|v| + 1e-30) over the outputs of `rows` (all by default); a
/// non-finite output counts as +∞.
public func maxRelativeError(_ ours: UnsafePointer<Float>, _ ref: (out: [Double], mag: [Double]), dim d: Int,
                             rows: [Int]? = nil) -> Double {
    var worst = 0.0
    for r in rows ?? Array(0..<(ref.out.count / d)) {
        for i in (r * d)..<((r + 1) * d) {
            let e = Swift.abs(Double(ours[i]) - ref.out[i]) / (ref.mag[i] + 1e-30)
            worst = Swift.max(worst, e.isFinite ? e : .infinity)
        }
    }
    return worst
}

// MARK: - 2. FlashAttention-2 style

/// One worker per row: rows are handed out one at a time to whichever worker is free (B·H
/// CTAs on `pool.count` slots), each streams its row's whole context with the online softmax.
public func fa2DecodeAttention(_ p: DecodeProblem, out: UnsafeMutablePointer<Float>, pool: WorkerPool) {
    let counter = WorkCounter()
    let d = p.dim
    pool.run { _ in
        while true {
            let r = counter.next()
            if r >= p.rows { return }
            let o = out + r * d
            var m: Float = 0, l: Float = 0
            p.partial(row: r, keys: 0..<p.length, m: &m, l: &l, o: o)
            let inv = 1 / l
            for i in 0..<d { o[i] *= inv }
        }
    }
}

// MARK: - 3. FlashDecoding

/// The LSE-form merge of FlashAttention's split-KV combine kernel: pieces i = 0..<count with
/// normalised outputs Ô_i (at o + i·oStride) and lse_i = m_i + ln l_i (at lse + i·lseStride):
///
///     lse_max = max_i lse_i  (0 if every lse_i = −∞)
///     L = lse_max + ln Σ_i e^{lse_i − lse_max}  (+∞ if the sum is 0 or NaN)
///     out = Σ_i e^{lse_i − L}·Ô_i
///
/// The guards make a row whose pieces are all empty come out 0, never NaN. Returns L.
@discardableResult
public func lseCombine(lse: UnsafePointer<Float>, lseStride: Int, o: UnsafePointer<Float>, oStride: Int, count: Int,
                       dim d: Int, out: UnsafeMutablePointer<Float>) -> Float {
    var lseMax = -Float.infinity
    for i in 0..<count { lseMax = Swift.max(lseMax, lse[i * lseStride]) }
    if lseMax == -.infinity { lseMax = 0 }
    var sum: Float = 0
    for i in 0..<count { sum += Foundation.exp(lse[i * lseStride] - lseMax) }
    let total: Float = (sum == 0 || sum.isNaN) ? .infinity : Foundation.log(sum) + lseMax
    out.update(repeating: 0, count: d)
    for i in 0..<count {
        let w = Foundation.exp(lse[i * lseStride] - total)
        if w != 0 { axpy(w, o + i * oStride, out, d) }
    }
    return total
}

/// What a FlashDecoding call did.
public struct FlashDecodingRun: Equatable, Sendable {
    public var splits: Int
    public var ctas: Int
}

/// FlashDecoding: `splits` (default: FlashAttention's heuristic with `slots` = pool.count
/// resident CTAs) pieces of ⌈nb/splits⌉ tiles per row, B·H·splits CTAs handed out dynamically;
/// each writes Ô = O/l and lse = m + ln l (an empty piece writes 0 and −∞), and a second pass
/// over rows merges them with `lseCombine`. With one split the CTA writes the output directly
/// and there is no second pass (as in FlashAttention).
@discardableResult
public func flashDecodingAttention(_ p: DecodeProblem, out: UnsafeMutablePointer<Float>, pool: WorkerPool,
                                   slots: Int? = nil, splits forced: Int? = nil) -> FlashDecodingRun {
    let nb = p.tilesPerHead, d = p.dim
    let s = forced ?? flashDecodingSplits(batchHeads: p.rows, slots: slots ?? pool.count, blocks: nb)
    precondition(s >= 1, "need ≥ 1 split")
    let sched = FlashDecodingSchedule(tilesPerHead: nb, heads: p.rows, splits: s)
    if s == 1 {
        fa2DecodeAttention(p, out: out, pool: pool)
        return FlashDecodingRun(splits: 1, ctas: p.rows)
    }
    // oaccum [splits, rows, d] and lse [splits, rows] in fp32, as FlashAttention lays them out.
    let oacc = UnsafeMutablePointer<Float>.allocate(capacity: s * p.rows * d)
    let lse = UnsafeMutablePointer<Float>.allocate(capacity: s * p.rows)
    defer { oacc.deallocate(); lse.deallocate() }
    let counter = WorkCounter()
    pool.run { _ in
        while true {
            let c = counter.next()
            if c >= sched.ctas { return }
            let row = c / s, split = c % s
            let o = oacc + (split * p.rows + row) * d
            var m: Float = 0, l: Float = 0
            p.partial(row: row, keys: p.tokens(sched.tiles(split: split)), m: &m, l: &l, o: o)
            if l > 0 {
                let inv = 1 / l
                for i in 0..<d { o[i] *= inv }
                lse[split * p.rows + row] = m + Foundation.log(l)
            } else {
                lse[split * p.rows + row] = -.infinity           // empty piece: (−∞, 0)
            }
        }
    }
    // The combine "kernel": rows split evenly over the workers.
    let workers = Swift.min(pool.count, p.rows)
    pool.run { w in
        guard w < workers else { return }
        let rows = (p.rows * w / workers)..<(p.rows * (w + 1) / workers)
        for r in rows {
            lseCombine(lse: lse + r, lseStride: p.rows, o: oacc + r * d, oStride: p.rows * d, count: s, dim: d, out: out + r * d)
        }
    }
    return FlashDecodingRun(splits: s, ctas: sched.ctas)
}

// MARK: - 4. LeanAttention

/// Where LeanAttention's non-host workers publish their partial (m, l, O): one slot per worker
/// (a worker publishes at most once, for the head its range starts inside). Pass one to
/// `leanDecodeAttention` to read the partials afterwards.
public final class LeanScratch {
    public let workers: Int
    public let dim: Int
    let m: UnsafeMutablePointer<Float>
    let l: UnsafeMutablePointer<Float>
    let o: UnsafeMutablePointer<Float>
    let head: UnsafeMutablePointer<Int>

    public init(workers: Int, dim: Int) {
        self.workers = workers; self.dim = dim
        m = .allocate(capacity: workers); l = .allocate(capacity: workers)
        o = .allocate(capacity: workers * dim); head = .allocate(capacity: workers)
        reset()
    }

    deinit { m.deallocate(); l.deallocate(); o.deallocate(); head.deallocate() }

    func reset() { head.initialize(repeating: -1, count: workers) }

    /// The partial worker w published in the last call, or nil if it published none.
    public func published(by w: Int) -> (head: Int, partial: AttentionPartial)? {
        guard head[w] >= 0 else { return nil }
        return (head[w], AttentionPartial(m: m[w], l: l[w], o: Array(UnsafeBufferPointer(start: o + w * dim, count: dim))))
    }
}

/// LeanAttention on G = pool.count co-resident workers. Worker w walks its tile range
/// `LeanSchedule.range(w)` head segment by head segment; per segment it forms the partial
/// (m, l, O) with the online softmax, then
/// - host and finishing (the head lies inside its range): writes O/l;
/// - not host: publishes (m, l, O) to its scratch slot and signals the head's semaphore;
/// - host, not finishing: waits for the head's other splits − 1 workers, merges their
///   partials in worker order with the re-scaling operator (`attentionCombine`), writes O/l.
/// Blocking waits (not spins), so G may exceed the cores. Deterministic for a fixed G.
public func leanDecodeAttention(_ p: DecodeProblem, out: UnsafeMutablePointer<Float>, pool: WorkerPool,
                                scratch: LeanScratch? = nil) {
    let g = pool.count, d = p.dim
    let sched = LeanSchedule(tilesPerHead: p.tilesPerHead, heads: p.rows, workers: g)
    let slots = scratch ?? LeanScratch(workers: g, dim: d)
    precondition(slots.workers == g && slots.dim == d, "scratch for \(slots.workers) workers × d \(slots.dim), need \(g) × \(d)")
    slots.reset()
    // One semaphore per head that is split over several workers.
    let ready: [DispatchSemaphore?] = (0..<p.rows).map { sched.splits(ofHead: $0) > 1 ? DispatchSemaphore(value: 0) : nil }
    let nb = sched.tilesPerHead
    pool.run { w in
        let r = sched.range(w)
        var gid = r.lowerBound
        while gid < r.upperBound {
            let h = gid / nb
            let end = Swift.min(r.upperBound, (h + 1) * nb)
            let tiles = (gid - h * nb)..<(end - h * nb)
            let isHost = tiles.lowerBound == 0, isFinishing = tiles.upperBound == nb
            var m: Float = 0, l: Float = 0
            if !isHost {
                p.partial(row: h, keys: p.tokens(tiles), m: &m, l: &l, o: slots.o + w * d)
                slots.m[w] = m; slots.l[w] = l; slots.head[w] = h
                ready[h]!.signal()                               // publish, then move on
            } else {
                let o = out + h * d                              // the host accumulates in place
                p.partial(row: h, keys: p.tokens(tiles), m: &m, l: &l, o: o)
                if !isFinishing {
                    let last = sched.finisher(ofHead: h)
                    for _ in (w + 1)...last { ready[h]!.wait() }
                    for c in (w + 1)...last {
                        attentionCombine(m: &m, l: &l, o: o, with: slots.m[c], slots.l[c], slots.o + c * d, dim: d)
                    }
                }
                let inv = 1 / l
                for i in 0..<d { o[i] *= inv }
            }
            gid = end
        }
    }
}
