import Foundation

/// Rows of `weight` (V, C) picked by `ids`: returns idsShape + [C].
public func embedding(_ ids: [Int32], shape idsShape: [Int], weight: Tensor) -> Tensor {
    precondition(weight.rank == 2, "embedding weight must be (V, C), got \(weight.shape)")
    precondition(ids.count == idsShape.reduce(1, *), "\(ids.count) ids for shape \(idsShape)")
    let v = weight.shape[0], c = weight.shape[1]
    for id in ids { precondition(id >= 0 && Int(id) < v, "token id \(id) out of range 0..<\(v)") }
    let out = Tensor.empty(idsShape + [c])
    for (i, id) in ids.enumerated() { (out.data + i * c).update(from: weight.data + Int(id) * c, count: c) }
    return out.record("embedding", [weight]) { out in
        // In token order, so repeated ids always sum in the same order.
        let g = out.grad!.data, gw = weight.gradData()
        for (i, id) in ids.enumerated() { addInto(gw + Int(id) * c, g + i * c, c) }
    }
}

/// Row-wise stable softmax of n values: y = e^(x−max) / Σ.
@inline(__always) func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var mx = -Float.infinity
    for j in 0..<n where x[j] > mx { mx = x[j] }
    if mx == -.infinity { for j in 0..<n { y[j] = .nan }; return }  // every entry masked: undefined
    let shift = F8(repeating: mx)
    map8(n, x, y) { exp8($0 - shift) }
    let inv = 1 / sumContiguous(y, n)
    for j in 0..<n { y[j] *= inv }
}

extension Tensor {
    /// Softmax over the last axis.
    public func softmax() -> Tensor {
        let n = shape.last ?? 1, rows = count / Swift.max(n, 1)
        let out = Tensor.empty(shape)
        let px = data, py = out.data
        Parallel.forEachChunk(rows, grain: Swift.max(1, 4096 / Swift.max(n, 1))) { rs in
            for r in rs { softmaxRow(px + r * n, py + r * n, n) }
        }
        let x = self
        return out.record("softmax", [x]) { out in
            // dx = y ⊙ (g − Σ g·y)
            let g = out.grad!.data, gx = x.gradData(), y = out.data
            Parallel.forEachChunk(rows, grain: Swift.max(1, 4096 / Swift.max(n, 1))) { rs in
                for r in rs {
                    let o = r * n
                    let s = dot(g + o, y + o, n)
                    for j in 0..<n { gx[o + j] += y[o + j] * (g[o + j] - s) }
                }
            }
        }
    }

    /// log-softmax over the last axis: x − logΣe^x.
    public func logSoftmax() -> Tensor {
        let n = shape.last ?? 1, rows = count / Swift.max(n, 1)
        let out = Tensor.empty(shape)
        let px = data, py = out.data
        for r in 0..<rows {
            let x = px + r * n, y = py + r * n
            var mx = -Float.infinity
            for j in 0..<n where x[j] > mx { mx = x[j] }
            var s: Float = 0
            for j in 0..<n { s += expf8(x[j] - mx) }
            let lse = mx + Foundation.logf(s)
            for j in 0..<n { y[j] = x[j] - lse }
        }
        let x = self
        return out.record("logSoftmax", [x]) { out in
            // dx = g − softmax·Σg
            let g = out.grad!.data, gx = x.gradData(), y = out.data
            for r in 0..<rows {
                let o = r * n
                let s = sumContiguous(g + o, n)
                for j in 0..<n { gx[o + j] += g[o + j] - expf8(y[o + j]) * s }
            }
        }
    }
}

/// Mean cross-entropy of `logits` (..., V) against integer `targets` (one per row);
/// rows whose target is `ignoreIndex` are skipped, as in `F.cross_entropy`. Fused with the
/// softmax so the backward is the stable (p − onehot) / N.
public func crossEntropy(_ logits: Tensor, targets: [Int32], ignoreIndex: Int32 = -1) -> Tensor {
    let v = logits.shape.last!, rows = logits.count / v
    precondition(targets.count == rows, "\(targets.count) targets for \(rows) rows of logits \(logits.shape)")
    let probs = Tensor.empty(logits.shape)
    let px = logits.data, pp = probs.data
    // Per-row losses through a raw pointer: chunks on other threads write their own rows, and
    // an Array captured by the closure is one variable that every chunk would be modifying.
    let losses = UnsafeMutableBufferPointer<Double>.allocate(capacity: rows)
    defer { losses.deallocate() }
    losses.initialize(repeating: 0)
    Parallel.forEachChunk(rows, grain: Swift.max(1, 8192 / v)) { rs in
        for r in rs {
            softmaxRow(px + r * v, pp + r * v, v)
            let t = targets[r]
            guard t != ignoreIndex else { continue }
            precondition(t >= 0 && Int(t) < v, "target \(t) out of range 0..<\(v)")
            // −log p_t computed from the logits, not from p_t, so tiny probabilities keep precision.
            let x = px + r * v
            var mx = -Float.infinity
            for j in 0..<v where x[j] > mx { mx = x[j] }
            var s: Float = 0
            for j in 0..<v { s += expf8(x[j] - mx) }
            losses[r] = Double(mx + Foundation.logf(s) - x[Int(t)])
        }
    }
    let counted = targets.filter { $0 != ignoreIndex }.count
    let out = Tensor.scalar(Float(losses.reduce(0, +) / Double(Swift.max(counted, 1))))
    return out.record("crossEntropy", [logits]) { out in
        let g = out.grad!.data[0] / Float(Swift.max(counted, 1))
        let gx = logits.gradData(), pp = probs.data   // capture the owner, not just its pointer
        for r in 0..<rows where targets[r] != ignoreIndex {
            let o = r * v
            for j in 0..<v { gx[o + j] += g * pp[o + j] }
            gx[o + Int(targets[r])] -= g
        }
    }
}

/// Layer normalisation over the last axis: (x − mean)/√(var + eps)·weight + bias, with the
/// biased variance, as `F.layer_norm`. `weight` and `bias` are optional (nanoGPT has no bias).
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let c = x.shape.last!, rows = x.count / c
    if let weight { precondition(weight.shape == [c], "layerNorm weight \(weight.shape) for last dim \(c)") }
    if let bias { precondition(bias.shape == [c], "layerNorm bias \(bias.shape) for last dim \(c)") }
    let out = Tensor.empty(x.shape)
    let stats = Buffer(count: 2 * rows, zeroed: false)   // mean, rstd per row, kept for backward
    let px = x.data, py = out.data, pw = weight?.data, pb = bias?.data, mp = stats.pointer, rp = stats.pointer + rows
    let grain = Swift.max(1, 16384 / c)
    Parallel.forEachChunk(rows, grain: grain) { rs in
        for r in rs {
            let xr = px + r * c, yr = py + r * c
            let m = sumContiguous(xr, c) / Float(c)
            // Two passes (mean, then squared deviations) as PyTorch's CPU kernel: no cancellation.
            let vm = F8(repeating: m)
            var acc = F8(), j = 0
            while j + 8 <= c { let d = load8(xr + j) - vm; acc.addProduct(d, d); j += 8 }
            var v = acc.sum()
            while j < c { let d = xr[j] - m; v += d * d; j += 1 }
            let s = 1 / (v / Float(c) + eps).squareRoot()
            mp[r] = m; rp[r] = s
            let vs = F8(repeating: s)
            j = 0
            while j + 8 <= c {
                var y = (load8(xr + j) - vm) * vs
                if let pw { y *= load8(pw + j) }
                if let pb { y += load8(pb + j) }
                store8(y, yr + j); j += 8
            }
            while j < c {
                var y = (xr[j] - m) * s
                if let pw { y *= pw[j] }
                if let pb { y += pb[j] }
                yr[j] = y; j += 1
            }
        }
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    return out.record("layerNorm", inputs) { out in
        let g = out.grad!.data, mp = stats.pointer, rp = stats.pointer + rows   // keeps `stats` alive
        let gx = x.requiresGrad ? x.gradData() : nil
        // Weight/bias grads are sums over rows: each chunk sums its rows, chunks add in order.
        let chunks = Parallel.chunkCount(rows, grain: grain)
        var partialW = [Float](repeating: 0, count: chunks * c), partialB = [Float](repeating: 0, count: chunks * c)
        partialW.withUnsafeMutableBufferPointer { pwB in
            partialB.withUnsafeMutableBufferPointer { pbB in
                let pW = pwB.baseAddress!, pB = pbB.baseAddress!
                Parallel.forEachIndexedChunk(rows, chunks: chunks) { chunk, rs in
                    let cw = pW + chunk * c, cb = pB + chunk * c
                    for r in rs {
                        let xr = px + r * c, gr = g + r * c, m = mp[r], s = rp[r]
                        let vm = F8(repeating: m), vs = F8(repeating: s)
                        // Σ d and Σ d·n̂ with d = g·w (the gradient w.r.t. the normalised value).
                        var aD = F8(), aDN = F8(), j = 0
                        while j + 8 <= c {
                            let gv = load8(gr + j), nrm = (load8(xr + j) - vm) * vs
                            store8(load8(cw + j).addingProduct(gv, nrm), cw + j)
                            store8(load8(cb + j) + gv, cb + j)
                            let d = pw.map { gv * load8($0 + j) } ?? gv
                            aD += d; aDN.addProduct(d, nrm); j += 8
                        }
                        var sumD = aD.sum(), sumDN = aDN.sum()
                        while j < c {
                            let nrm = (xr[j] - m) * s
                            cw[j] += gr[j] * nrm; cb[j] += gr[j]
                            let d = gr[j] * (pw?[j] ?? 1)
                            sumD += d; sumDN += d * nrm; j += 1
                        }
                        guard let gx else { continue }
                        let meanD = sumD / Float(c), meanDN = sumDN / Float(c)
                        let vMeanD = F8(repeating: meanD), vMeanDN = F8(repeating: meanDN)
                        let gxr = gx + r * c
                        j = 0
                        while j + 8 <= c {
                            let gv = load8(gr + j), nrm = (load8(xr + j) - vm) * vs
                            let d = pw.map { gv * load8($0 + j) } ?? gv
                            store8(load8(gxr + j).addingProduct(vs, d - vMeanD - nrm * vMeanDN), gxr + j); j += 8
                        }
                        while j < c {
                            let nrm = (xr[j] - m) * s
                            let d = gr[j] * (pw?[j] ?? 1)
                            gxr[j] += s * (d - meanD - nrm * meanDN); j += 1
                        }
                    }
                }
            }
        }
        for (param, partial) in [(weight, partialW), (bias, partialB)] {
            guard let param, param.requiresGrad else { continue }
            let gp = param.gradData()
            for ch in 0..<chunks { partial.withUnsafeBufferPointer { addInto(gp, $0.baseAddress! + ch * c, c) } }
        }
    }
}
