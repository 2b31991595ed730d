import Dispatch
import Foundation
#if arch(x86_64)
internal import _Builtin_intrinsics.intel
#endif

// Single-query ("decode") attention over a contiguous KV cache, and the online-softmax
// partial state it is built from.
//
// For one query row q ∈ R^d and keys/values k_j, v_j (j ∈ a segment A), with s_j = scale·q·k_j:
//   m_A = max_j s_j,   l_A = Σ_j e^{s_j − m_A},   O_A = Σ_j e^{s_j − m_A}·v_j   (un-normalised).
// Two segments combine exactly ("softmax re-scaling operator", LeanAttention §2.1):
//   m = max(m_A, m_B),  l = e^{m_A−m}·l_A + e^{m_B−m}·l_B,  O = e^{m_A−m}·O_A + e^{m_B−m}·O_B,
// which is associative and commutative with identity (−∞, 0, 0); the output is O / l.
// The kernel cuts the (row × key) space into equal contiguous ranges taken by the threads;
// each range streams its keys once (K and V are each read exactly once), and rows shared by
// several ranges are merged with this operator in range order, so a fixed range count gives
// bit-identical results.
// (On x86-64 a few AVX intrinsics, e.g. hadd for the 8×8 transposing sum, come from Clang's
// builtin headers: Swift's generic SIMD shuffles compiled to spills and scalar inserts there.)

/// The online-softmax state (m, l, O) of one query row over a segment of keys.
public struct AttentionPartial: Equatable, Sendable {
    /// Largest scaled score seen; −∞ for the empty segment.
    public var m: Float
    /// Σ e^{s_j − m}.
    public var l: Float
    /// Σ e^{s_j − m}·v_j, un-normalised (d values).
    public var o: [Float]

    public init(m: Float, l: Float, o: [Float]) { self.m = m; self.l = l; self.o = o }

    /// The identity of the combine: (−∞, 0, 0).
    public static func identity(dim d: Int) -> AttentionPartial {
        AttentionPartial(m: -.infinity, l: 0, o: [Float](repeating: 0, count: d))
    }

    public var dim: Int { o.count }

    /// self ← self ⊕ other.
    public mutating func merge(_ other: AttentionPartial) {
        precondition(other.o.count == o.count, "partials of different head dims (\(o.count), \(other.o.count))")
        var mm = m, ll = l
        let d = o.count
        other.o.withUnsafeBufferPointer { ob in
            o.withUnsafeMutableBufferPointer { sb in
                attentionCombine(m: &mm, l: &ll, o: sb.baseAddress!, with: other.m, other.l, ob.baseAddress!, dim: d)
            }
        }
        m = mm; l = ll
    }

    /// a ⊕ b.
    public static func combine(_ a: AttentionPartial, _ b: AttentionPartial) -> AttentionPartial {
        var r = a
        r.merge(b)
        return r
    }

    /// The attention output O / l (NaN for the empty segment, which has no output).
    public func output() -> [Float] { o.map { $0 / l } }

    /// self ← self ⊕ (the partial of keys `keys` of one row): q (d), k and v rows of d floats
    /// starting at `k`/`v` (key j at k + j·d). `scale` multiplies q·k.
    public mutating func accumulate(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                    keys: Range<Int>, scale: Float) {
        var mm = m, ll = l
        let d = o.count
        o.withUnsafeMutableBufferPointer { ob in
            decodeAttentionAccumulate(q: q, k: k, v: v, keys: keys, dim: d, scale: scale, m: &mm, l: &ll, o: ob.baseAddress!)
        }
        m = mm; l = ll
    }
}

/// (m, l, o) ← (m, l, o) ⊕ (m2, l2, o2), in place; `o` and `o2` hold `d` floats. Exact
/// arithmetic aside, the result does not depend on how a row's keys were split. Either side
/// may be the identity (m = −∞): no e^{−∞ − (−∞)} is ever formed.
@inline(__always)
public func attentionCombine(m: inout Float, l: inout Float, o: UnsafeMutablePointer<Float>,
                             with m2: Float, _ l2: Float, _ o2: UnsafePointer<Float>, dim d: Int) {
    if m2 == -.infinity { return }                       // other is the identity
    if m == -.infinity {                                 // self is the identity
        m = m2; l = l2
        o.update(from: o2, count: d)
        return
    }
    let mn = Swift.max(m, m2)
    let a = expf8(m - mn), b = expf8(m2 - mn)            // one of them is exactly 1
    l = a * l + b * l2
    let va = F8(repeating: a), vb = F8(repeating: b)
    var i = 0
    while i + 8 <= d { store8((load8(o + i) * va).addingProduct(vb, load8(o2 + i)), o + i); i += 8 }
    while i < d { o[i] = a * o[i] + b * o2[i]; i += 1 }
    m = mn
}

/// Keys per inner segment: each segment is summed from zero and then merged into the running
/// state, so float32 rounding grows with segment/8 + N/segment additions instead of N/8.
let decodeSegmentKeys = 512

/// (m, l, o) ← (m, l, o) ⊕ partial(keys) for one query row: q has d floats, key j is the row
/// k + j·d (likewise v). d must be a multiple of 8. K and V rows are each read once.
public func decodeAttentionAccumulate(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                      keys: Range<Int>, dim d: Int, scale: Float,
                                      m: inout Float, l: inout Float, o: UnsafeMutablePointer<Float>) {
    precondition(d > 0 && d % 8 == 0, "decode attention needs a head dim that is a multiple of 8, got \(d)")
    if keys.isEmpty { return }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * d + 8) { tmp in
        let qs = tmp.baseAddress!, seg = qs + d, pbuf = seg + d
        for i in 0..<d { qs[i] = q[i] * scale }
        var j = keys.lowerBound
        while j < keys.upperBound {
            let n = Swift.min(decodeSegmentKeys, keys.upperBound - j)
            var sm: Float = -.infinity, sl: Float = 0
            switch d {   // constant head dims let the compiler unroll the inner loops
            case 64: segmentKernel(qs, k + j * d, v + j * d, n, 64, &sm, &sl, seg, pbuf)
            case 128: segmentKernel(qs, k + j * d, v + j * d, n, 128, &sm, &sl, seg, pbuf)
            default: segmentKernel(qs, k + j * d, v + j * d, n, d, &sm, &sl, seg, pbuf)
            }
            attentionCombine(m: &m, l: &l, o: o, with: sm, sl, seg, dim: d)
            j += n
        }
    }
}

/// The partial of `n` ≥ 1 keys from scratch into (m, l, o), in blocks of eight keys, software-
/// pipelined so that K and V are consumed together: while block b's values are summed into O,
/// the scores of block b+1 are formed from its key rows, row by row. Per block: one rescale of
/// the running state by e^{m−m'} (m' = max(m, block max)), p = e^{s−m'} for eight lanes,
/// O ← e^{m−m'}·O + Σ_t p_t·v_t; the rescale and its exp are skipped while the max holds.
/// Both streams then advance steadily and the hardware prefetchers keep running ahead: on the
/// 2-core Zen 4 VM, a K phase followed by a V phase (per 8 or 32 keys) reached 75–88% of a plain
/// streaming SIMD sum over the same bytes, this fused loop 87–98%. (Software prefetch, tried
/// through a C shim, did not help.)
/// A last partial block pads its scores with −∞. `pbuf` holds eight floats.
@inline(__always)
func segmentKernel(_ qs: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int, _ d: Int,
                   _ m: inout Float, _ l: inout Float, _ o: UnsafeMutablePointer<Float>, _ pbuf: UnsafeMutablePointer<Float>) {
    o.update(repeating: 0, count: d)
    var mr: Float = -.infinity
    var lv = F8()
    let full = n / 8
    var s = full > 0 ? scores8(qs, k, d) : F8()
    var b = 0
    while b < full {
        let mn = Swift.max(mr, maxLane(s))
        // e^{m−m'}: 0 on the first block (m = −∞), exactly 1 (no exp) while the max holds.
        let alpha: Float = mn > mr ? expf8(mr - mn) : 1
        let p = exp8(s - F8(repeating: mn))
        lv = p.addingProduct(lv, F8(repeating: alpha))
        store8(p, pbuf)
        let vb = v + b * 8 * d
        if b + 1 < full {
            s = accumulateVScoringNext(o, vb, pbuf, alpha, qs, k + (b + 1) * 8 * d, d)
        } else {
            accumulateV(o, vb, pbuf, 8, d, alpha)
        }
        mr = mn
        b += 1
    }
    let rest = n - 8 * full
    if rest > 0 {
        let kb = k + 8 * full * d
        var s = F8(repeating: -.infinity)
        for t in 0..<rest { s[t] = rowDot(qs, kb + t * d, d) }
        let mn = Swift.max(mr, maxLane(s))
        let alpha: Float = mn > mr ? expf8(mr - mn) : 1
        let p = exp8(s - F8(repeating: mn))            // padded lanes: e^{−∞} = 0
        lv = p.addingProduct(lv, F8(repeating: alpha))
        store8(p, pbuf)
        accumulateV(o, v + 8 * full * d, pbuf, rest, d, alpha)
        mr = mn
    }
    m = mr
    l = lv.sum()
}

/// accumulateV over eight value rows fused with the scores of the next eight key rows `kn`:
/// row t of V and row t of the next block's K are read in the same step.
@inline(__always)
func accumulateVScoringNext(_ o: UnsafeMutablePointer<Float>, _ vb: UnsafePointer<Float>, _ p: UnsafePointer<Float>,
                            _ alpha: Float, _ qs: UnsafePointer<Float>, _ kn: UnsafePointer<Float>, _ d: Int) -> F8 {
    let va = F8(repeating: alpha)
    if d == 64 {
        var a0 = load8(o) * va, a1 = load8(o + 8) * va, a2 = load8(o + 16) * va, a3 = load8(o + 24) * va
        var a4 = load8(o + 32) * va, a5 = load8(o + 40) * va, a6 = load8(o + 48) * va, a7 = load8(o + 56) * va
        @inline(__always) func step(_ t: Int) -> F8 {
            let x = rowDotVec(qs, kn + t * 64, 64)
            let pt = F8(repeating: p[t]), r = vb + t * 64
            a0.addProduct(pt, load8(r)); a1.addProduct(pt, load8(r + 8))
            a2.addProduct(pt, load8(r + 16)); a3.addProduct(pt, load8(r + 24))
            a4.addProduct(pt, load8(r + 32)); a5.addProduct(pt, load8(r + 40))
            a6.addProduct(pt, load8(r + 48)); a7.addProduct(pt, load8(r + 56))
            return x
        }
        let x0 = step(0), x1 = step(1), x2 = step(2), x3 = step(3), x4 = step(4), x5 = step(5), x6 = step(6), x7 = step(7)
        store8(a0, o); store8(a1, o + 8); store8(a2, o + 16); store8(a3, o + 24)
        store8(a4, o + 32); store8(a5, o + 40); store8(a6, o + 48); store8(a7, o + 56)
        return transposeSum(x0, x1, x2, x3, x4, x5, x6, x7)
    }
    var c = 0
    while c < d { store8(load8(o + c) * va, o + c); c += 8 }
    @inline(__always) func step(_ t: Int) -> F8 {
        let x = rowDotVec(qs, kn + t * d, d)
        axpyRow(o, vb + t * d, F8(repeating: p[t]), d)
        return x
    }
    let x0 = step(0), x1 = step(1), x2 = step(2), x3 = step(3), x4 = step(4), x5 = step(5), x6 = step(6), x7 = step(7)
    return transposeSum(x0, x1, x2, x3, x4, x5, x6, x7)
}

/// o[0..<d] += pt·r[0..<d] (o in L1).
@inline(__always)
func axpyRow(_ o: UnsafeMutablePointer<Float>, _ r: UnsafePointer<Float>, _ pt: F8, _ d: Int) {
    var c = 0
    while c + 32 <= d {
        store8(load8(o + c).addingProduct(pt, load8(r + c)), o + c)
        store8(load8(o + c + 8).addingProduct(pt, load8(r + c + 8)), o + c + 8)
        store8(load8(o + c + 16).addingProduct(pt, load8(r + c + 16)), o + c + 16)
        store8(load8(o + c + 24).addingProduct(pt, load8(r + c + 24)), o + c + 24)
        c += 32
    }
    while c < d { store8(load8(o + c).addingProduct(pt, load8(r + c)), o + c); c += 8 }
}

/// The eight-lane partial sums of q·r (reduce with `sum` or `transposeSum`).
@inline(__always)
func rowDotVec(_ q: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ d: Int) -> F8 {
    var x = F8(), y = F8()
    var c = 0
    while c + 16 <= d { x.addProduct(load8(q + c), load8(r + c)); y.addProduct(load8(q + c + 8), load8(r + c + 8)); c += 16 }
    if c < d { x.addProduct(load8(q + c), load8(r + c)) }
    return x + y
}

/// o ← α·o + Σ_{t<count} p[t]·v_t over `count` consecutive value rows, in key (memory) order.
/// d = 64 keeps o in eight registers; other widths update o in L1 one row at a time (sixteen
/// register accumulators for d = 128 ran faster from cache but, with their spills, reached only
/// ~70% of the streaming bandwidth from DRAM, against ~95% for this).
@inline(__always)
func accumulateV(_ o: UnsafeMutablePointer<Float>, _ vb: UnsafePointer<Float>, _ p: UnsafePointer<Float>,
                 _ count: Int, _ d: Int, _ alpha: Float) {
    let va = F8(repeating: alpha)
    if d == 64 {
        var a0 = load8(o) * va, a1 = load8(o + 8) * va, a2 = load8(o + 16) * va, a3 = load8(o + 24) * va
        var a4 = load8(o + 32) * va, a5 = load8(o + 40) * va, a6 = load8(o + 48) * va, a7 = load8(o + 56) * va
        for t in 0..<count {
            let pt = F8(repeating: p[t]), r = vb + t * 64
            a0.addProduct(pt, load8(r)); a1.addProduct(pt, load8(r + 8))
            a2.addProduct(pt, load8(r + 16)); a3.addProduct(pt, load8(r + 24))
            a4.addProduct(pt, load8(r + 32)); a5.addProduct(pt, load8(r + 40))
            a6.addProduct(pt, load8(r + 48)); a7.addProduct(pt, load8(r + 56))
        }
        store8(a0, o); store8(a1, o + 8); store8(a2, o + 16); store8(a3, o + 24)
        store8(a4, o + 32); store8(a5, o + 40); store8(a6, o + 48); store8(a7, o + 56)
        return
    }
    var c = 0
    while c < d { store8(load8(o + c) * va, o + c); c += 8 }
    for t in 0..<count { axpyRow(o, vb + t * d, F8(repeating: p[t]), d) }
}

/// The scores q·k_t of eight consecutive key rows (kb, kb + d, …), read in memory order,
/// reduced together by one transposing sum instead of eight horizontal sums.
@inline(__always)
func scores8(_ q: UnsafePointer<Float>, _ kb: UnsafePointer<Float>, _ d: Int) -> F8 {
    transposeSum(rowDotVec(q, kb, d), rowDotVec(q, kb + d, d), rowDotVec(q, kb + 2 * d, d), rowDotVec(q, kb + 3 * d, d),
                 rowDotVec(q, kb + 4 * d, d), rowDotVec(q, kb + 5 * d, d), rowDotVec(q, kb + 6 * d, d), rowDotVec(q, kb + 7 * d, d))
}

/// (Σ a0, Σ a1, …, Σ a7) as one vector.
@inline(__always)
func transposeSum(_ a0: F8, _ a1: F8, _ a2: F8, _ a3: F8, _ a4: F8, _ a5: F8, _ a6: F8, _ a7: F8) -> F8 {
#if arch(x86_64)
    // hadd pairs lanes within each 128-bit half: after two rounds u0 holds the half-sums of
    // a0…a3 (low half: lanes 0–3, high half: lanes 4–7), u1 those of a4…a7.
    let u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3))
    let u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7))
    return F8(lowHalf: u0.lowHalf, highHalf: u1.lowHalf) + F8(lowHalf: u0.highHalf, highHalf: u1.highHalf)
#else
    return F8(a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), a5.sum(), a6.sum(), a7.sum())
#endif
}

/// The largest lane (no NaNs expected).
@inline(__always)
func maxLane(_ s: F8) -> Float {
#if arch(x86_64)
    let h = _mm_max_ps(s.lowHalf, s.highHalf)
    let h2 = _mm_max_ps(h, _mm_movehl_ps(h, h))
    return _mm_max_ss(h2, _mm_movehdup_ps(h2))[0]
#else
    return s.max()
#endif
}

/// q·k for one d-float row, four accumulators.
@inline(__always)
func rowDot(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ d: Int) -> Float {
    var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
    var c = 0
    while c + 32 <= d {
        a0.addProduct(load8(q + c), load8(k + c)); a1.addProduct(load8(q + c + 8), load8(k + c + 8))
        a2.addProduct(load8(q + c + 16), load8(k + c + 16)); a3.addProduct(load8(q + c + 24), load8(k + c + 24))
        c += 32
    }
    while c < d { a0.addProduct(load8(q + c), load8(k + c)); c += 8 }
    return ((a0 + a1) + (a2 + a3)).sum()
}

/// Single-query attention for `rows` independent (batch·head) rows on raw pointers:
/// q (rows, d), k and v (rows, n, d), out (rows, d); out = softmax(scale·q·Kᵀ)·V per row.
///
/// The rows·n (row, key) pairs are cut into `workers` near-equal contiguous ranges (a range may
/// start or end inside a row, so one row can be shared by several ranges: LeanAttention's
/// stream-K split with G = workers). Rows that a range covers whole are written directly; split
/// rows are merged in range order with `attentionCombine`. Up to `threads` threads take the
/// ranges from a shared counter, so a core slowed by other work takes fewer of them; the result
/// depends only on the inputs and `workers`, never on `threads` or on which thread ran a range.
public func decodeAttention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                            out: UnsafeMutablePointer<Float>, rows: Int, length n: Int, dim d: Int,
                            scale: Float, workers: Int, threads: Int = Parallel.threads) {
    precondition(n >= 1, "decode attention needs at least one key")
    precondition(d > 0 && d % 8 == 0, "decode attention needs a head dim that is a multiple of 8, got \(d)")
    precondition(workers >= 1 && threads >= 1, "need at least one worker and one thread")
    if rows == 0 { return }
    let total = rows * n
    // Per range, at most two split rows: the one it starts in and the one it ends in.
    let slots = 2 * workers
    let slotRow = UnsafeMutablePointer<Int>.allocate(capacity: slots)
    let slotML = UnsafeMutablePointer<Float>.allocate(capacity: 2 * slots)
    let slotO = UnsafeMutablePointer<Float>.allocate(capacity: slots * d)
    slotRow.initialize(repeating: -1, count: slots)
    defer { slotRow.deallocate(); slotML.deallocate(); slotO.deallocate() }

    func work(_ w: Int) {
        let range = Parallel.chunkRange(w, of: workers, total)
        var pos = range.lowerBound
        var slot = 2 * w
        while pos < range.upperBound {
            let row = pos / n, start = pos - row * n
            let end = Swift.min(n, start + (range.upperBound - pos))
            let qr = q + row * d, kr = k + row * n * d, vr = v + row * n * d
            var m: Float = -.infinity, l: Float = 0
            if start == 0 && end == n {
                let o = out + row * d
                o.update(repeating: 0, count: d)
                decodeAttentionAccumulate(q: qr, k: kr, v: vr, keys: 0..<n, dim: d, scale: scale, m: &m, l: &l, o: o)
                for i in 0..<d { o[i] /= l }
            } else {
                let o = slotO + slot * d
                o.update(repeating: 0, count: d)
                decodeAttentionAccumulate(q: qr, k: kr, v: vr, keys: start..<end, dim: d, scale: scale, m: &m, l: &l, o: o)
                slotRow[slot] = row; slotML[2 * slot] = m; slotML[2 * slot + 1] = l
                slot += 1
            }
            pos += end - start
        }
    }
    let team = Swift.min(threads, workers)
    if team == 1 {
        for w in 0..<workers { work(w) }
    } else {
        let next = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        next.initialize(to: 0)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: team) { _ in
            while true {
                lock.lock()
                let w = next.pointee
                next.pointee += 1
                lock.unlock()
                if w >= workers { break }
                work(w)
            }
        }
        next.deallocate()
    }

    // Merge split rows in slot (= key) order; a row's slots are consecutive.
    var s = 0
    while s < slots {
        let row = slotRow[s]
        if row < 0 { s += 1; continue }
        var m = slotML[2 * s], l = slotML[2 * s + 1]
        let o = out + row * d
        o.update(from: slotO + s * d, count: d)
        var t = s + 1
        while t < slots && (slotRow[t] == row || slotRow[t] < 0) {
            if slotRow[t] == row { attentionCombine(m: &m, l: &l, o: o, with: slotML[2 * t], slotML[2 * t + 1], slotO + t * d, dim: d) }
            t += 1
        }
        for i in 0..<d { o[i] /= l }
        s = t
    }
}

/// How many ranges (workers) `decodeAttention` cuts rows·n keys into for `threads` threads: four per
/// thread (so a core slowed by other work hands ranges to the others), but no range under
/// ~256 KiB of K+V, where dispatch would cost more than it saves; one range on one thread.
public func decodeAttentionWorkers(rows: Int, length n: Int, dim d: Int, threads: Int) -> Int {
    if threads <= 1 { return 1 }
    let grain = Swift.max(1, 32_768 / d)
    return Swift.max(1, Swift.min(4 * threads, rows * n / grain))
}

/// Single-query attention: q (B, H, d), k and v (B, H, N, d) contiguous, output (B, H, d);
/// scale defaults to 1/√d. Split by `decodeAttentionWorkers` for `threads`: results are
/// bit-identical for a fixed thread count. Not recorded by autograd: an inference kernel.
public func decodeAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil,
                            threads: Int = Parallel.threads) -> Tensor {
    precondition(q.rank == 3 && k.rank == 4 && v.shape == k.shape, "decodeAttention wants q (B,H,d), k and v (B,H,N,d); got \(q.shape), \(k.shape), \(v.shape)")
    let (b, h, n, d) = (k.shape[0], k.shape[1], k.shape[2], k.shape[3])
    precondition(q.shape == [b, h, d], "q shape \(q.shape) does not match k shape \(k.shape)")
    let out = Tensor.empty([b, h, d])
    decodeAttention(q: q.data, k: k.data, v: v.data, out: out.data, rows: b * h, length: n, dim: d,
                    scale: scale ?? 1 / Float(d).squareRoot(),
                    workers: decodeAttentionWorkers(rows: b * h, length: n, dim: d, threads: threads), threads: threads)
    return out
}
