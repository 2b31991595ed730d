import Foundation

/// The scans share one walk: for every (outer, inner) lane, visit the n positions along the axis.
@inline(__always) private func forEachLane(_ shape: [Int], _ axis: Int,
                                           _ body: (_ start: Int, _ n: Int, _ stride: Int) -> Void) {
    let (outer, n, inner) = splitShape(shape, at: axis)
    for o in 0..<outer { for i in 0..<inner { body(o * n * inner + i, n, inner) } }
}

extension Tensor {
    /// Running sum along `axis`: y_k = Σ_{i≤k} x_i.
    public func cumsum(axis: Int) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let out = Tensor.empty(shape)
        let px = data, py = out.data
        forEachLane(shape, ax) { s, n, st in
            var acc: Float = 0
            for k in 0..<n { acc += px[s + k * st]; py[s + k * st] = acc }
        }
        let x = self
        return out.record("cumsum", [x]) { out in
            // dx_i = Σ_{k≥i} g_k: a reverse running sum.
            let g = out.grad!.data, gx = x.gradData()
            forEachLane(x.shape, ax) { s, n, st in
                var acc: Float = 0
                for k in stride(from: n - 1, through: 0, by: -1) { acc += g[s + k * st]; gx[s + k * st] += acc }
            }
        }
    }

    /// Running max along `axis`: y_k = max_{i≤k} x_i.
    /// NOTE: the gradient of y_k goes to the latest i ≤ k attaining the max, as `torch.cummax`.
    public func cummax(axis: Int) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let out = Tensor.empty(shape)
        var arg = [Int](repeating: 0, count: count)
        let px = data, py = out.data
        forEachLane(shape, ax) { s, n, st in
            var best = -Float.infinity, bi = s
            for k in 0..<n {
                let i = s + k * st
                if px[i] >= best || k == 0 { best = px[i]; bi = i }
                py[i] = best; arg[i] = bi
            }
        }
        let x = self
        return out.record("cummax", [x]) { out in
            let g = out.grad!.data, gx = x.gradData()
            for i in 0..<out.count { gx[arg[i]] += g[i] }
        }
    }

    /// Running log-sum-exp along `axis`: y_k = log Σ_{i≤k} e^{x_i}, computed by the stable
    /// recurrence y_k = Swift.max(y, x) + log(1 + e^{−|y − x|}).
    public func logcumsumexp(axis: Int) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let out = Tensor.empty(shape)
        let px = data, py = out.data
        forEachLane(shape, ax) { s, n, st in
            var acc = -Float.infinity
            for k in 0..<n {
                let xk = px[s + k * st]
                let hi = Swift.max(acc, xk), lo = Swift.min(acc, xk)
                acc = hi == -.infinity ? -.infinity : hi + Foundation.log1pf(Foundation.expf(lo - hi))
                py[s + k * st] = acc
            }
        }
        let x = self
        return out.record("logcumsumexp", [x]) { out in
            // dx_i = e^{x_i − y_i}·r_i with r_i = g_i + e^{y_i − y_{i+1}}·r_{i+1}; y is
            // non-decreasing, so every factor is ≤ 1 and nothing overflows.
            let g = out.grad!.data, gx = x.gradData(), y = out.data
            forEachLane(x.shape, ax) { s, n, st in
                var r: Float = 0
                for k in stride(from: n - 1, through: 0, by: -1) {
                    let i = s + k * st
                    r = k == n - 1 ? g[i] : g[i] + Foundation.expf(y[i] - y[i + st]) * r
                    if y[i] > -.infinity { gx[i] += Foundation.expf(px[i] - y[i]) * r }
                }
            }
        }
    }
}
