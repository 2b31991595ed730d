import Foundation

/// Causal multi-head self-attention from packed projections, fused in one primitive.
///
/// `qkv`: (B, T, 3C), laid out as nanoGPT's `c_attn` output: [q | k | v], each split into
/// `heads` heads of D = C/heads channels. Returns (B, T, C) with heads side by side, i.e.
/// `softmax(q·kᵀ/√D + causal mask)·v` already transposed back, ready for `c_proj`.
/// Equal to `F.scaled_dot_product_attention(q, k, v, is_causal=True)` (tested against the
/// composed `attention(q:k:v:causal:)`). Keeps the (B, H, T, T) probabilities for backward.
///
/// Two kernels: row by row in registers for short sequences, and from T = 128 on, per head,
/// blocks of 64 query rows through single-threaded SGEMM (`causalSelfAttentionBlocked`).
public func causalSelfAttention(_ qkv: Tensor, heads: Int) -> Tensor {
    precondition(qkv.rank == 3 && qkv.shape[2] % (3 * heads) == 0,
                 "causalSelfAttention needs (B, T, 3C) with C divisible by heads, got \(qkv.shape), heads \(heads)")
    if qkv.shape[1] >= blockedAttentionMinLength { return causalSelfAttentionBlocked(qkv, heads: heads) }
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, d = c / heads
    let scale = 1 / Float(d).squareRoot()
    let out = Tensor.zeros([b, t, c])
    let probs = Buffer(count: b * heads * t * t)   // row i holds p[i, 0...i]; the rest stays 0
    let px = qkv.data, po = out.data, pp = probs.pointer
    // Scores and dO·vᵀ are computed against a transposed, zero-padded copy of the head's keys
    // (values): eight key columns per SIMD lane-group instead of one horizontal sum per key.
    let ld = (t + 31) / 32 * 32
    Parallel.forEachChunk(b * heads) { range in
        let scratch = Buffer(count: d * ld + ld + d)
        let kt = scratch.pointer, row = kt + d * ld, qs = row + ld
        for bh in range {
            let bi = bh / heads, h = bh % heads
            let base = px + bi * t * 3 * c + h * d
            transposeHead(base + c, rowStride: 3 * c, t: t, d: d, into: kt, ld: ld)
            for i in 0..<t {
                for e in 0..<d { qs[e] = base[i * 3 * c + e] * scale }
                scoresRow(qs, kt, ld: ld, d: d, count: i + 1, row)
                let p = pp + (bh * t + i) * t
                softmaxRow(row, p, i + 1)
                let v = UnsafePointer(base + 2 * c)
                accumulateWeightedRows(po + (bi * t + i) * c + h * d, d: d, count: i + 1,
                                       weight: { p[$0] }, row: { v + $0 * 3 * c })
            }
        }
    }
    return out.record("causalSelfAttention", [qkv]) { out in
        let g = out.grad!.data, gx = qkv.gradData(), pp = probs.pointer   // keeps `probs` alive
        Parallel.forEachChunk(b * heads) { range in
            let scratch = Buffer(count: d * ld + ld + t * ld)
            let vt = scratch.pointer, dp = vt + d * ld, dsM = dp + ld
            for bh in range {
                let bi = bh / heads, h = bh % heads
                let base = UnsafePointer(px + bi * t * 3 * c + h * d)
                let gbase = gx + bi * t * 3 * c + h * d
                let gO = UnsafePointer(g + bi * t * c + h * d)
                let p = pp + bh * t * t
                let stride = 3 * c
                func q(_ i: Int) -> UnsafePointer<Float> { base + i * stride }
                func k(_ j: Int) -> UnsafePointer<Float> { base + (j * stride + c) }
                func dO(_ i: Int) -> UnsafePointer<Float> { gO + i * c }
                transposeHead(base + 2 * c, rowStride: 3 * c, t: t, d: d, into: vt, ld: ld)
                // Row by row: dp_ij = dO_i·v_j ; ds_ij = p_ij (dp_ij − Σ_j p_ij dp_ij)/√D ;
                // dq_i = Σ_j ds_ij k_j.
                for i in 0..<t {
                    scoresRow(dO(i), vt, ld: ld, d: d, count: i + 1, dp)
                    let pi = p + i * t, dsi = dsM + i * ld
                    let s = dot(pi, dp, i + 1)
                    for j in 0...i { dsi[j] = pi[j] * (dp[j] - s) * scale }
                    accumulateWeightedRows(gbase + i * 3 * c, d: d, count: i + 1, weight: { dsi[$0] }, row: k)
                }
                // Column by column: dk_j = Σ_{i≥j} ds_ij q_i ; dv_j = Σ_{i≥j} p_ij dO_i.
                for j in 0..<t {
                    let dsCol = dsM + j * ld + j, pCol = p + j * t + j
                    accumulateWeightedRows(gbase + (j * stride + c), d: d, count: t - j,
                                           weight: { dsCol[$0 * ld] }, row: { q(j + $0) })
                    accumulateWeightedRows(gbase + (j * stride + 2 * c), d: d, count: t - j,
                                           weight: { pCol[$0 * t] }, row: { dO(j + $0) })
                }
            }
        }
    }
}

/// dst[e] += Σ_r weight(r)·row(r)[e] for e < d, keeping dst in registers (32 lanes at a time)
/// while the rows stream past: one store per output instead of one per term, as axpy needs.
/// Even and odd rows go to separate accumulators (added at the end): eight independent FMA
/// chains keep both FMA pipes busy, where four would wait on the FMA latency.
@inline(__always)
func accumulateWeightedRows(_ dst: UnsafeMutablePointer<Float>, d: Int, count: Int,
                            weight: (Int) -> Float, row: (Int) -> UnsafePointer<Float>) {
    var e = 0
    while e + 32 <= d {
        var a0 = load8(dst + e), a1 = load8(dst + e + 8), a2 = load8(dst + e + 16), a3 = load8(dst + e + 24)
        var b0 = F8(), b1 = F8(), b2 = F8(), b3 = F8()
        var r = 0
        while r + 2 <= count {
            let w = F8(repeating: weight(r)), x = row(r) + e
            let w2 = F8(repeating: weight(r + 1)), y = row(r + 1) + e
            a0.addProduct(w, load8(x)); a1.addProduct(w, load8(x + 8))
            a2.addProduct(w, load8(x + 16)); a3.addProduct(w, load8(x + 24))
            b0.addProduct(w2, load8(y)); b1.addProduct(w2, load8(y + 8))
            b2.addProduct(w2, load8(y + 16)); b3.addProduct(w2, load8(y + 24))
            r += 2
        }
        if r < count {
            let w = F8(repeating: weight(r)), x = row(r) + e
            a0.addProduct(w, load8(x)); a1.addProduct(w, load8(x + 8))
            a2.addProduct(w, load8(x + 16)); a3.addProduct(w, load8(x + 24))
        }
        store8(a0 + b0, dst + e); store8(a1 + b1, dst + e + 8); store8(a2 + b2, dst + e + 16); store8(a3 + b3, dst + e + 24)
        e += 32
    }
    while e + 8 <= d {
        var a = load8(dst + e)
        for r in 0..<count { a.addProduct(F8(repeating: weight(r)), load8(row(r) + e)) }
        store8(a, dst + e)
        e += 8
    }
    while e < d {
        var a = dst[e]
        for r in 0..<count { a += weight(r) * row(r)[e] }
        dst[e] = a
        e += 1
    }
}

/// Copy the (t, d) rows at `src` (stride `rowStride`) into `dst` as (d, ld), columns ≥ t zero.
@inline(__always)
func transposeHead(_ src: UnsafePointer<Float>, rowStride: Int, t: Int, d: Int, into dst: UnsafeMutablePointer<Float>, ld: Int) {
    for e in 0..<d {
        let col = dst + e * ld
        for j in 0..<t { col[j] = src[j * rowStride + e] }
        for j in t..<ld { col[j] = 0 }
    }
}

/// out[j] = Σₑ a[e]·bt[e·ld + j] for j < count, in blocks of 32 columns (ld is a multiple of 32;
/// up to 31 extra columns are computed into `out` and ignored). Even and odd e accumulate
/// separately (eight FMA chains, as in `accumulateWeightedRows`).
@inline(__always)
func scoresRow(_ a: UnsafePointer<Float>, _ bt: UnsafePointer<Float>, ld: Int, d: Int, count: Int, _ out: UnsafeMutablePointer<Float>) {
    var jb = 0
    while jb < count {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
        var b0 = F8(), b1 = F8(), b2 = F8(), b3 = F8()
        var col = bt + jb
        var e = 0
        while e + 2 <= d {
            let av = F8(repeating: a[e]), bv = F8(repeating: a[e + 1]), col2 = col + ld
            a0.addProduct(av, load8(col)); a1.addProduct(av, load8(col + 8))
            a2.addProduct(av, load8(col + 16)); a3.addProduct(av, load8(col + 24))
            b0.addProduct(bv, load8(col2)); b1.addProduct(bv, load8(col2 + 8))
            b2.addProduct(bv, load8(col2 + 16)); b3.addProduct(bv, load8(col2 + 24))
            col += 2 * ld
            e += 2
        }
        if e < d {
            let av = F8(repeating: a[e])
            a0.addProduct(av, load8(col)); a1.addProduct(av, load8(col + 8))
            a2.addProduct(av, load8(col + 16)); a3.addProduct(av, load8(col + 24))
        }
        store8(a0 + b0, out + jb); store8(a1 + b1, out + jb + 8); store8(a2 + b2, out + jb + 16); store8(a3 + b3, out + jb + 24)
        jb += 32
    }
}

/// Sequence length from which `causalSelfAttention` uses the blocked kernel: at T = 64 one head's
/// products (64×64×D) are too small for SGEMM's packing to pay off; at T = 256 the row kernel
/// runs at ~18% of the FMA peak.
let blockedAttentionMinLength = 128
/// Query rows per block.
let attentionBlockRows = 64

/// y_i ← β·y_i + Σ_{j ≤ i} w_ij·x_j for the rows i of one block `rows` = r₀..<r₁ (row i of y at
/// y + i·ldy, of w at weights + i·ldw, key j of x at x + j·ldx; d columns): the keys before the
/// block by one SGEMM, the diagonal block row by row, so no row ever multiplies a later x_j,
/// even by a zero weight (0·inf would leak a later inf into the past as NaN). With β = 0 the
/// first block (r₀ = 0) adds into y as it is: the caller passes it zeroed.
private func causalBlockProduct(rows: Range<Int>, weights w: UnsafePointer<Float>, ldw: Int,
                                _ x: UnsafePointer<Float>, ldx: Int, d: Int,
                                into y: UnsafeMutablePointer<Float>, ldy: Int, beta: Float) {
    let r0 = rows.lowerBound
    if r0 > 0 { sgemm(false, false, rows.count, d, r0, w + r0 * ldw, ldw, x, ldx, beta: beta, y + r0 * ldy, ldy) }
    for i in rows {
        let wi = w + i * ldw
        accumulateWeightedRows(y + i * ldy, d: d, count: i - r0 + 1, weight: { wi[r0 + $0] }, row: { x + (r0 + $0) * ldx })
    }
}

/// `causalSelfAttention` for longer sequences: per (batch, head), on one thread, query rows in
/// blocks of 64. For a block of rows R = r₀..<r₁:
///   S[R, 0..<r₁] = scale·Q_R·Kᵀ (SGEMM; entries right of the diagonal are overwritten by 0),
///   P = row-wise causal softmax,
///   O_R = P[R, 0..<r₀]·V[0..<r₀] (SGEMM over keys strictly in the past of every row of R)
///         + Σ_{r₀ ≤ j ≤ i} p_ij·v_j (the diagonal block, row by row).
/// The diagonal block is summed row by row so that no future value is ever multiplied, even by
/// a zero weight (0·inf would leak a future inf into the past as NaN): row i reads only
/// keys/values ≤ i, and the result is bit-identical whatever the future holds.
/// Backward, with dS_ij = p_ij·(dP_ij − Σ_j p_ij·dP_ij)·scale (0 right of the diagonal):
///   dP = dO·Vᵀ, dQ = dS·K, dK_j = Σ_{i≥j} dS_ij·q_i, dV_j = Σ_{i≥j} p_ij·dO_i,
/// each as SGEMMs over the lower-triangular blocks only; dQ's diagonal block, like O's, is
/// summed row by row, so dq_i never multiplies a later key either.
func causalSelfAttentionBlocked(_ qkv: Tensor, heads: Int) -> Tensor {
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, d = c / heads
    let scale = 1 / Float(d).squareRoot()
    let stride = 3 * c, blockRows = attentionBlockRows
    Parallel.configureBLAS()
    let out = Tensor.zeros([b, t, c])
    let probs = Buffer(count: b * heads * t * t, zeroed: false)   // row i: p[i, 0...i], then zeros
    let px = qkv.data, po = out.data, pp = probs.pointer
    Parallel.forEachChunk(b * heads) { range in
        for bh in range {
            let bi = bh / heads, h = bh % heads
            let q = UnsafePointer(px + bi * t * stride + h * d), k = q + c, v = q + 2 * c
            let p = pp + bh * t * t, o = po + bi * t * c + h * d
            var r0 = 0
            while r0 < t {
                let rows = Swift.min(blockRows, t - r0), r1 = r0 + rows
                sgemm(false, true, rows, r1, d, alpha: scale, q + r0 * stride, stride, k, stride, beta: 0, p + r0 * t, t)
                for i in r0..<r1 {
                    let pi = p + i * t
                    softmaxRow(pi, pi, i + 1)
                    (pi + i + 1).update(repeating: 0, count: t - i - 1)
                }
                causalBlockProduct(rows: r0..<r1, weights: p, ldw: t, v, ldx: stride, d: d, into: o, ldy: c, beta: 0)
                r0 = r1
            }
        }
    }
    return out.record("causalSelfAttention", [qkv]) { out in
        let g = out.grad!.data, gx = qkv.gradData(), pp = probs.pointer   // keeps `probs` alive
        Parallel.forEachChunk(b * heads) { range in
            let dsBuffer = Buffer(count: t * t, zeroed: false)
            let ds = dsBuffer.pointer
            for bh in range {
                let bi = bh / heads, h = bh % heads
                let q = UnsafePointer(px + bi * t * stride + h * d), k = q + c, v = q + 2 * c
                let gq = gx + bi * t * stride + h * d, gk = gq + c, gv = gq + 2 * c
                let dO = UnsafePointer(g + bi * t * c + h * d)
                let p = UnsafePointer(pp + bh * t * t)
                var r0 = 0
                while r0 < t {
                    let rows = Swift.min(blockRows, t - r0), r1 = r0 + rows
                    sgemm(false, true, rows, r1, d, dO + r0 * c, c, v, stride, beta: 0, ds + r0 * t, t)   // dP
                    for i in r0..<r1 {
                        let pi = p + i * t, dsi = ds + i * t
                        let s = dot(pi, dsi, i + 1)
                        for j in 0...i { dsi[j] = pi[j] * (dsi[j] - s) * scale }
                        (dsi + i + 1).update(repeating: 0, count: t - i - 1)
                    }
                    causalBlockProduct(rows: r0..<r1, weights: ds, ldw: t, k, ldx: stride, d: d, into: gq, ldy: stride, beta: 1)   // dQ
                    r0 = r1
                }
                // dK and dV for key block J = j₀..<j₁ take query rows i ≥ j₀ (dS and P are 0 above the diagonal).
                var j0 = 0
                while j0 < t {
                    let cols = Swift.min(blockRows, t - j0)
                    sgemm(true, false, cols, d, t - j0, ds + j0 * t + j0, t, q + j0 * stride, stride, beta: 1, gk + j0 * stride, stride)
                    sgemm(true, false, cols, d, t - j0, p + j0 * t + j0, t, dO + j0 * c, c, beta: 1, gv + j0 * stride, stride)
                    j0 += cols
                }
            }
        }
    }
}
