import Foundation
import Replicate

// Attention with one query as a many-to-many RNN (Feng et al. 2024, §3; ../shared/papers/aaren.md
// §1.2): every prefix k of scores s (one per token) and values v gives
//
//     o_k = Σ_{i≤k} exp(s_i) v_i / Σ_{i≤k} exp(s_i) = w_k / u_k,
//
// with the running state (m_k, u_k, w_k) = (max_{i≤k} s_i, Σ exp(s_i − m_k), Σ exp(s_i − m_k) v_i).
// States combine with the associative operator ⊕ (identity (−∞, 0, 0)), so the prefixes come
// from a parallel scan: chunks of a row reduce to one state each, the chunk states are scanned,
// and each chunk replays its tokens from its prefix. Work 2N, like Blelloch's scan; on a CPU the
// chunks are the threads' parallelism (rows are, when there are at least as many rows as threads).
//
// Dimension legend: R rows (batch × heads), N tokens, d value width.

/// The scan's combine operator (below), as the paper writes it.
infix operator ⊕ : AdditionPrecedence

/// One (m, u, w) state of the attention RNN for value width d.
public struct ScanState: Equatable, Sendable {
    public var m: Double
    public var u: Double
    public var w: [Double]

    /// The identity of ⊕: the state of an empty prefix.
    public static func identity(_ d: Int) -> ScanState { ScanState(m: -.infinity, u: 0, w: [Double](repeating: 0, count: d)) }

    /// The state of one token (its own prefix).
    public static func leaf(score s: Double, value v: [Double]) -> ScanState { ScanState(m: s, u: 1, w: v) }

    /// The paper's printed initial state (0, 0, 0): with it, a row whose scores all lie far below 0
    /// underflows to u = 0 and gives 0/0 (shown in the tests; we use `identity`).
    public static func paperInitial(_ d: Int) -> ScanState { ScanState(m: 0, u: 0, w: [Double](repeating: 0, count: d)) }

    /// (m_A, u_A, w_A) ⊕ (m_B, u_B, w_B): the state of the union of the two token sets.
    /// A side at m = −∞ is empty; it is skipped rather than scaled by exp(−∞ − (−∞)) = NaN.
    public static func ⊕ (a: ScanState, b: ScanState) -> ScanState {
        if a.m == -.infinity { return b }
        if b.m == -.infinity { return a }
        let m = Swift.max(a.m, b.m), ea = Foundation.exp(a.m - m), eb = Foundation.exp(b.m - m)
        return ScanState(m: m, u: a.u * ea + b.u * eb, w: zip(a.w, b.w).map { $0 * ea + $1 * eb })
    }

    /// The attention output w/u (0 for an empty prefix).
    public var output: [Double] { u == 0 ? w.map { _ in 0 } : w.map { $0 / u } }
}

/// The many-to-many outputs o (R, N, d) for scores (R, N) and values (R, N, d), by the parallel
/// scan; differentiable in both. `chunks` fixes how many pieces each row is scanned in (the
/// default: one per thread when rows are fewer than threads, else whole rows).
///
/// Usage: `let o = prefixAttention(scores: s, values: v)   // (R, N, d)`
public func prefixAttention(scores: Tensor, values: Tensor, chunks: Int? = nil) -> Tensor {
    precondition(scores.rank == 2 && values.rank == 3 && values.shape[0] == scores.shape[0] && values.shape[1] == scores.shape[1],
                 "prefixAttention needs scores (R, N) and values (R, N, d), got \(scores.shape) and \(values.shape)")
    let (rows, n, d) = (values.shape[0], values.shape[1], values.shape[2])
    let pieces = max(1, min(n, chunks ?? (rows >= Parallel.threads ? 1 : (Parallel.threads + rows - 1) / rows)))
    let out = Tensor.zeros([rows, n, d])
    // The running max and denominator after every token, for the backward rule.
    let mRun = Tensor.zeros([rows, n]), uRun = Tensor.zeros([rows, n])
    let s = scores.data, v = values.data, o = out.data, mr = mRun.data, ur = uRun.data

    // Chunk c of row r replays its tokens from `start` (the state before its first token),
    // writing o, m and u; with `write` false it only returns its own total state.
    func replay(_ r: Int, _ range: Range<Int>, from start: (m: Float, u: Float, w: UnsafeMutablePointer<Float>), write: Bool) -> (Float, Float) {
        var m = start.m, u = start.u
        let w = start.w
        for k in range {
            let sk = s[r * n + k], vk = v + (r * n + k) * d
            let mNew = Swift.max(m, sk)
            if mNew == -.infinity {                                      // still empty
                if write { mr[r * n + k] = mNew; ur[r * n + k] = 0 }
                continue
            }
            let a = m == -.infinity ? 0 : Foundation.exp(m - mNew), b = Foundation.exp(sk - mNew)
            u = u * a + b
            for j in 0..<d { w[j] = w[j] * a + b * vk[j] }
            m = mNew
            if write {
                mr[r * n + k] = m; ur[r * n + k] = u
                let ok = o + (r * n + k) * d, inv = 1 / u
                for j in 0..<d { ok[j] = w[j] * inv }
            }
        }
        return (m, u)
    }

    let units = rows * pieces
    let totals = UnsafeMutablePointer<Float>.allocate(capacity: units * (d + 2))
    defer { totals.deallocate() }
    totals.initialize(repeating: 0, count: units * (d + 2))
    // Pass 1 (only when rows are split): each chunk's own state, from the identity.
    if pieces > 1 {
        Parallel.forEachChunk(units) { range in
            for unit in range where unit % pieces < pieces - 1 {        // the last chunk's total is never needed
                let t = totals + unit * (d + 2)
                let (m, u) = replay(unit / pieces, Parallel.chunkRange(unit % pieces, of: pieces, n),
                                    from: (-.infinity, 0, t + 2), write: false)
                t[0] = m; t[1] = u
            }
        }
        // Pass 2: exclusive prefix of the chunk states along each row (in place, as ⊕ in Float).
        for r in 0..<rows {
            var m: Float = -.infinity, u: Float = 0
            var w = [Float](repeating: 0, count: d)
            for c in 0..<pieces {
                let t = totals + (r * pieces + c) * (d + 2)
                let (cm, cu) = (t[0], t[1])
                let cw = Array(UnsafeBufferPointer(start: t + 2, count: d))
                t[0] = m; t[1] = u
                for j in 0..<d { t[2 + j] = w[j] }
                if cm == -.infinity { continue }
                let mNew = Swift.max(m, cm)
                let a = m == -.infinity ? 0 : Foundation.exp(m - mNew), b = Foundation.exp(cm - mNew)
                u = u * a + cu * b
                for j in 0..<d { w[j] = w[j] * a + cw[j] * b }
                m = mNew
            }
        }
    } else {
        for unit in 0..<units { totals[unit * (d + 2)] = -.infinity }
    }
    // Pass 3: every chunk replays its tokens from its prefix state.
    Parallel.forEachChunk(units) { range in
        for unit in range {
            let t = totals + unit * (d + 2)
            _ = replay(unit / pieces, Parallel.chunkRange(unit % pieces, of: pieces, n), from: (t[0], t[1], t + 2), write: true)
        }
    }

    return out.record("prefixAttention", [scores, values]) { out in
        prefixAttentionBackward(out: out, scores: scores, values: values, m: mRun, u: uRun, pieces: pieces)
    }
}

/// The backward rule of `prefixAttention`. With R̃_i = Σ_{k≥i} e^{m_i − m_k} g_k / u_k and
/// Q̃_i = Σ_{k≥i} e^{m_i − m_k} (o_k·g_k) / u_k (every factor ≤ 1: m never decreases):
///
///     ∂L/∂v_i = e^{s_i − m_i} R̃_i,    ∂L/∂s_i = e^{s_i − m_i} (v_i·R̃_i − Q̃_i),
///
/// a reverse linear recurrence, R̃_i = g_i/u_i + e^{m_i − m_{i+1}} R̃_{i+1}, chunked like the
/// forward: each chunk's own sums, carried back across chunks (the decay across a chunk
/// telescopes to e^{m_a − m_{b+1}}), then each chunk replayed from its carry.
func prefixAttentionBackward(out: Tensor, scores: Tensor, values: Tensor, m mRun: Tensor, u uRun: Tensor, pieces: Int) {
    let (rows, n, d) = (values.shape[0], values.shape[1], values.shape[2])
    let g = out.grad!.data, o = out.data, s = scores.data, v = values.data, mr = mRun.data, ur = uRun.data
    let ds = scores.requiresGrad ? scores.gradData() : nil, dv = values.requiresGrad ? values.gradData() : nil

    // Chunk `range` of row r, from the carry (R̃, Q̃) of the token after it; returns its own R̃, Q̃
    // at its first token. With `write`, adds its gradients.
    func replay(_ r: Int, _ range: Range<Int>, carry: UnsafeMutablePointer<Float>, write: Bool) {
        let rt = carry + 1                                                  // R̃ (d), Q̃ in carry[0]
        var q = carry[0]
        var next = range.upperBound < n ? mr[r * n + range.upperBound] : Float.nan
        for k in range.reversed() {
            let i = r * n + k, mk = mr[i]
            if mk == -.infinity { continue }                                // empty prefix: no output depends on it
            let decay: Float = next.isNaN ? 0 : Foundation.exp(mk - next)
            let inv = 1 / ur[i], gk = g + i * d, ok = o + i * d
            var og: Float = 0
            for j in 0..<d { og += ok[j] * gk[j] }
            q = q * decay + og * inv
            for j in 0..<d { rt[j] = rt[j] * decay + gk[j] * inv }
            next = mk
            if write {
                let e = Foundation.exp(s[i] - mk), vk = v + i * d
                if let dv { for j in 0..<d { dv[i * d + j] += e * rt[j] } }
                if let ds {
                    var vr: Float = 0
                    for j in 0..<d { vr += vk[j] * rt[j] }
                    ds[i] += e * (vr - q)
                }
            }
        }
        carry[0] = q
    }

    let units = rows * pieces, width = d + 1
    let carries = UnsafeMutablePointer<Float>.allocate(capacity: units * width)
    defer { carries.deallocate() }
    carries.initialize(repeating: 0, count: units * width)
    if pieces > 1 {
        // Pass 1: each chunk's own sums at its first token (no carry in), all but the first chunk.
        let local = UnsafeMutablePointer<Float>.allocate(capacity: units * width)
        defer { local.deallocate() }
        local.initialize(repeating: 0, count: units * width)
        Parallel.forEachChunk(units) { range in
            for unit in range where unit % pieces > 0 {
                replay(unit / pieces, Parallel.chunkRange(unit % pieces, of: pieces, n), carry: local + unit * width, write: false)
            }
        }
        // Pass 2: the carry into chunk c is chunk c+1's sums plus its own carry, decayed across it.
        for r in 0..<rows {
            for c in stride(from: pieces - 2, through: 0, by: -1) {
                let next = Parallel.chunkRange(c + 1, of: pieces, n), after = Parallel.chunkRange(c + 2 < pieces ? c + 2 : c + 1, of: pieces, n)
                let into = carries + (r * pieces + c) * width, nextCarry = carries + (r * pieces + c + 1) * width
                let own = local + (r * pieces + c + 1) * width
                // Decay from the first token of chunk c+1 to the first of chunk c+2.
                let mFirst = mr[r * n + next.lowerBound]
                let decay: Float = c + 2 < pieces && mFirst != -.infinity ? Foundation.exp(mFirst - mr[r * n + after.lowerBound]) : 0
                for j in 0..<width { into[j] = own[j] + decay * nextCarry[j] }
            }
        }
    }
    // Pass 3: every chunk from its carry, adding the gradients.
    Parallel.forEachChunk(units) { range in
        for unit in range {
            replay(unit / pieces, Parallel.chunkRange(unit % pieces, of: pieces, n), carry: carries + unit * width, write: true)
        }
    }
}

// MARK: - References (float64, for tests and the exactness section)

/// o_k for every prefix by the definition: a softmax over s_0…s_k of each row, then the weighted
/// sum of values. O(N²) per row.
public func directPrefixAttention(scores s: [Double], values v: [Double], rows: Int, n: Int, d: Int) -> [Double] {
    var out = [Double](repeating: 0, count: rows * n * d)
    for r in 0..<rows {
        for k in 0..<n {
            let mx = (0...k).map { s[r * n + $0] }.max()!
            guard mx > -.infinity else { continue }
            var z = 0.0
            for i in 0...k { z += Foundation.exp(s[r * n + i] - mx) }
            for i in 0...k {
                let p = Foundation.exp(s[r * n + i] - mx) / z
                for j in 0..<d { out[(r * n + k) * d + j] += p * v[(r * n + i) * d + j] }
            }
        }
    }
    return out
}

/// o_k for every prefix by the sequential RNN: state ← state ⊕ leaf(s_k, v_k), from the identity.
public func sequentialPrefixAttention(scores s: [Double], values v: [Double], rows: Int, n: Int, d: Int) -> [Double] {
    var out: [Double] = []
    out.reserveCapacity(rows * n * d)
    for r in 0..<rows {
        var state = ScanState.identity(d)
        for k in 0..<n {
            state = state ⊕ .leaf(score: s[r * n + k], value: Array(v[((r * n + k) * d)..<((r * n + k + 1) * d)]))
            out += state.output
        }
    }
    return out
}
