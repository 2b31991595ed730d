import Foundation

/// Causal multi-head self-attention from packed projections, fused in one primitive.
///
/// `qkv`: (B, T, 3C), laid out as nanoGPT's `c_attn` output: [q | k | v], each split into
/// `heads` heads of D = C/heads channels. Returns (B, T, C) with heads side by side, i.e.
/// `softmax(q·kᵀ/√D + causal mask)·v` already transposed back, ready for `c_proj`.
/// Equal to `F.scaled_dot_product_attention(q, k, v, is_causal=True)` (tested against the
/// composed `attention(q:k:v:causal:)`). Keeps the (B, H, T, T) probabilities for backward.
public func causalSelfAttention(_ qkv: Tensor, heads: Int) -> Tensor {
    precondition(qkv.rank == 3 && qkv.shape[2] % (3 * heads) == 0,
                 "causalSelfAttention needs (B, T, 3C) with C divisible by heads, got \(qkv.shape), heads \(heads)")
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, d = c / heads
    let scale = 1 / Float(d).squareRoot()
    let out = Tensor.zeros([b, t, c])
    let probs = Buffer(count: b * heads * t * t)   // row i holds p[i, 0...i]; the rest stays 0
    let px = qkv.data, po = out.data, pp = probs.pointer
    Parallel.forEachChunk(b * heads) { range in
        for bh in range {
            let bi = bh / heads, h = bh % heads
            let base = px + bi * t * 3 * c + h * d
            for i in 0..<t {
                let q = base + i * 3 * c
                let p = pp + (bh * t + i) * t
                for j in 0...i { p[j] = dot(q, base + j * 3 * c + c, d) * scale }
                softmaxRow(p, p, i + 1)
                let o = po + (bi * t + i) * c + h * d
                for j in 0...i { axpy(p[j], base + j * 3 * c + 2 * c, o, d) }
            }
        }
    }
    return out.record("causalSelfAttention", [qkv]) { out in
        let g = out.grad!.data, gx = qkv.gradData(), pp = probs.pointer   // keeps `probs` alive
        Parallel.forEachChunk(b * heads) { range in
            var dp = [Float](repeating: 0, count: t)
            for bh in range {
                let bi = bh / heads, h = bh % heads
                let base = px + bi * t * 3 * c + h * d
                let gbase = gx + bi * t * 3 * c + h * d
                for i in 0..<t {
                    let p = pp + (bh * t + i) * t
                    let go = g + (bi * t + i) * c + h * d
                    // dv_j += p_ij·dO_i ; dp_ij = dO_i·v_j ; ds = p ⊙ (dp − Σ p·dp)
                    var s: Float = 0
                    for j in 0...i {
                        axpy(p[j], go, gbase + j * 3 * c + 2 * c, d)
                        dp[j] = dot(go, base + j * 3 * c + 2 * c, d)
                        s += p[j] * dp[j]
                    }
                    let q = base + i * 3 * c, gq = gbase + i * 3 * c
                    for j in 0...i {
                        let ds = p[j] * (dp[j] - s) * scale
                        axpy(ds, base + j * 3 * c + c, gq, d)    // dq_i += ds·k_j
                        axpy(ds, q, gbase + j * 3 * c + c, d)    // dk_j += ds·q_i
                    }
                }
            }
        }
    }
}
