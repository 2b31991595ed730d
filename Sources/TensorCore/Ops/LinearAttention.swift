import Foundation

// B = batch (heads folded in), L = sequence length, d = query/key width, dv = value width,
// C = chunk size.

/// Causal linear attention, computed chunk by chunk with a d×dv state (CHELA's tiled form, as
/// in flash-linear-attention): O_t = Σ_{s≤t} (q_t·k_s)·v_s, i.e. tril(QKᵀ)·V with the
/// diagonal included, forming no more of QKᵀ than C×C diagonal blocks. For chunks i of C rows
/// (the last one ragged):
///   O_i = tril(Q_i K_iᵀ)·V_i + Q_i·S_{i−1},   S_i = S_{i−1} + K_iᵀ V_i,   S_0 = 0.
/// No feature map and no normaliser: callers compose those (φ(q), φ(k), a running Σ φ(k) via
/// `cumsum`, an output norm). The chunk products are single-threaded SGEMMs; batches run in
/// parallel (and the backward's two passes beside each other), so results do not depend on
/// the thread count.
///
/// q, k: (B, L, d); v: (B, L, dv). Returns (B, L, dv). Cost O(B·L·(C·(d + dv) + d·dv)), memory
/// O(C² + d·dv) per thread. Precondition (a trap with a message): chunkSize ≥ 1.
/// PyTorch reference on the same (B, L, d) tensors: `(q @ k.mT).tril() @ v`; heads fold in
/// as (B, L, H, d) → `permute(0, 2, 1, 3).reshape(B·H, L, d)`.
///
/// Row t of the output reads only rows ≤ t (the diagonal block is summed row by row, so no later
/// value is ever multiplied, even by zero): outputs are bit-identical whatever later rows hold.
///
/// Backward, with dO (B, L, dv), chunk-wise too:
///   dQ_i = tril(dO_i V_iᵀ)·K_i + dO_i·S_{i−1}ᵀ                (state S forward, as above)
///   dK_i = triu(V_i dO_iᵀ)·Q_i + V_i·Rᵀ,  dV_i = triu(K_i Q_iᵀ)·dO_i + K_i·R,
///   R = Σ_{j>i} Q_jᵀ dO_j                                      (state R run in reverse)
/// ```swift
/// let o = causalLinearAttention(q: q.silu(), k: k.silu(), v: v, chunkSize: 64)   // (B, L, dv)
/// ```
public func causalLinearAttention(q: Tensor, k: Tensor, v: Tensor, chunkSize: Int) -> Tensor {
    precondition(chunkSize >= 1, "causalLinearAttention: chunkSize must be ≥ 1, got \(chunkSize)")
    precondition(q.rank == 3 && k.shape == q.shape && v.rank == 3 && v.shape[0] == q.shape[0] && v.shape[1] == q.shape[1],
                 "causalLinearAttention needs q, k (B, L, d) and v (B, L, dv), got \(q.shape), \(k.shape), \(v.shape)")
    let b = q.shape[0], l = q.shape[1], d = q.shape[2], dv = v.shape[2]
    let chunk = Swift.max(1, Swift.min(chunkSize, l))
    Parallel.configureBLAS()
    let out = Tensor.zeros([b, l, dv])
    if out.count == 0 || d == 0 {   // nothing to sum (and BLAS rejects a zero leading dimension)
        return out.record("causalLinearAttention", [q, k, v]) { _ in }
    }
    let pq = q.data, pk = k.data, pv = v.data, po = out.data
    Parallel.forEachChunk(b) { batches in
        let scratch = Buffer(count: chunk * chunk + d * dv)
        let a = scratch.pointer, state = a + chunk * chunk
        for bi in batches {
            let q = UnsafePointer(pq + bi * l * d), k = UnsafePointer(pk + bi * l * d)
            let v = UnsafePointer(pv + bi * l * dv), o = po + bi * l * dv
            state.update(repeating: 0, count: d * dv)
            var r0 = 0
            while r0 < l {
                let c = Swift.min(chunk, l - r0)
                if r0 > 0 { sgemm(false, false, c, dv, d, q + r0 * d, d, state, dv, beta: 0, o + r0 * dv, dv) }
                sgemm(false, true, c, c, d, q + r0 * d, d, k + r0 * d, d, beta: 0, a, c)   // A[t, s] = q_t·k_s
                lowerTriangularProduct(c, a, ld: c, v + r0 * dv, ldx: dv, width: dv, into: o + r0 * dv, ldy: dv)
                sgemm(true, false, d, dv, c, k + r0 * d, d, v + r0 * dv, dv, beta: 1, state, dv)
                r0 += c
            }
        }
    }
    return out.record("causalLinearAttention", [q, k, v]) { out in
        let g = UnsafePointer(out.grad!.data)
        let gq = q.requiresGrad ? q.gradData() : nil
        let gk = k.requiresGrad ? k.gradData() : nil, gv = v.requiresGrad ? v.gradData() : nil
        // The dQ pass and the dK/dV pass share no output: tasks are (batch, pass) pairs, so even
        // one sequence keeps two threads busy.
        Parallel.forEachChunk(2 * b) { tasks in
            let scratch = Buffer(count: 2 * chunk * chunk + d * dv)
            let a = scratch.pointer, m = a + chunk * chunk, state = m + chunk * chunk
            for task in tasks {
                let bi = task / 2, forwardPass = task % 2 == 0
                let q = UnsafePointer(pq + bi * l * d), k = UnsafePointer(pk + bi * l * d)
                let v = UnsafePointer(pv + bi * l * dv), dO = g + bi * l * dv
                if forwardPass {
                    // Forward over chunks with S = Σ_{j<i} K_jᵀ V_j.
                    guard let gq else { continue }
                    let dQ = gq + bi * l * d
                    state.update(repeating: 0, count: d * dv)
                    var r0 = 0
                    while r0 < l {
                        let c = Swift.min(chunk, l - r0)
                        if r0 > 0 { sgemm(false, true, c, d, dv, dO + r0 * dv, dv, state, dv, beta: 1, dQ + r0 * d, d) }
                        sgemm(false, true, c, c, dv, dO + r0 * dv, dv, v + r0 * dv, dv, beta: 0, m, c)   // M[t, s] = dO_t·v_s
                        lowerTriangularProduct(c, m, ld: c, k + r0 * d, ldx: d, width: d, into: dQ + r0 * d, ldy: d)
                        sgemm(true, false, d, dv, c, k + r0 * d, d, v + r0 * dv, dv, beta: 1, state, dv)
                        r0 += c
                    }
                    continue
                }
                // Backward over chunks with R = Σ_{j>i} Q_jᵀ dO_j.
                if gk == nil && gv == nil { continue }
                state.update(repeating: 0, count: d * dv)
                let last = (l - 1) / chunk * chunk
                var r0 = last
                while r0 >= 0 {
                    let c = Swift.min(chunk, l - r0)
                    if let gk {
                        let gk = gk + bi * l * d
                        if r0 < last { sgemm(false, true, c, d, dv, v + r0 * dv, dv, state, dv, beta: 1, gk + r0 * d, d) }
                        sgemm(false, true, c, c, dv, dO + r0 * dv, dv, v + r0 * dv, dv, beta: 0, m, c)   // M[t, s] = dO_t·v_s
                        upperTriangularProduct(c, m, ld: c, q + r0 * d, ldx: d, width: d, into: gk + r0 * d, ldy: d)
                    }
                    if let gv {
                        let gv = gv + bi * l * dv
                        if r0 < last { sgemm(false, false, c, dv, d, k + r0 * d, d, state, dv, beta: 1, gv + r0 * dv, dv) }
                        sgemm(false, true, c, c, d, q + r0 * d, d, k + r0 * d, d, beta: 0, a, c)   // A[t, s] = q_t·k_s
                        upperTriangularProduct(c, a, ld: c, dO + r0 * dv, ldx: dv, width: dv, into: gv + r0 * dv, ldy: dv)
                    }
                    sgemm(true, false, d, dv, c, q + r0 * d, d, dO + r0 * dv, dv, beta: 1, state, dv)
                    r0 -= chunk
                }
            }
        }
    }
}

/// y_t += Σ_{s≤t} w[t, s]·x_s for t < n (row t of w at w + t·ld, x_s at x + s·ldx, `width`
/// columns): tril(W)·X over the terms on and below the diagonal only.
@inline(__always)
private func lowerTriangularProduct(_ n: Int, _ w: UnsafePointer<Float>, ld: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                    width: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
    for t in 0..<n {
        let wt = w + t * ld
        accumulateWeightedRows(y + t * ldy, d: width, count: t + 1, weight: { wt[$0] }, row: { x + $0 * ldx })
    }
}

/// y_s += Σ_{t≥s} w[t, s]·x_t for s < n: triu(Wᵀ)·X, the transposed counterpart of
/// `lowerTriangularProduct` over the same stored W (read down its columns).
@inline(__always)
private func upperTriangularProduct(_ n: Int, _ w: UnsafePointer<Float>, ld: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                    width: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
    for s in 0..<n {
        let column = w + s * ld + s
        accumulateWeightedRows(y + s * ldy, d: width, count: n - s, weight: { column[$0 * ld] }, row: { x + (s + $0) * ldx })
    }
}
