extension Tensor {
    /// Σ over `axis`.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let (outer, n, inner) = splitShape(shape, at: ax)
        var outShape = shape
        if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        let out = Tensor.zeros(outShape)
        let px = data, po = out.data
        Parallel.forEachChunk(outer, grain: Swift.max(1, (1 << 15) / Swift.max(n * inner, 1))) { os in
            for o in os {
                let src = px + o * n * inner, dst = po + o * inner
                if inner == 1 {
                    dst[0] = sumContiguous(src, n)
                } else {
                    for k in 0..<n { addInto(dst, src + k * inner, inner) }
                }
            }
        }
        let x = self
        return out.record("sum", [x]) { out in
            let g = out.grad!.data, gx = x.gradData()
            for o in 0..<outer {
                for k in 0..<n { addInto(gx + (o * n + k) * inner, g + o * inner, inner) }
            }
        }
    }

    /// Σ of all elements, as a scalar tensor.
    public func sum() -> Tensor { reshape([count]).sum(axis: 0) }

    /// Mean over `axis`.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        sum(axis: axis, keepDims: keepDims) * (1 / Float(size(axis)))
    }

    /// Mean of all elements.
    public func mean() -> Tensor { sum() * (1 / Float(count)) }

    /// Max over `axis`. NOTE: the gradient goes to the first position that attains the max.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let (outer, n, inner) = splitShape(shape, at: ax)
        precondition(n > 0, "max over an empty axis")
        var outShape = shape
        if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        let out = Tensor.empty(outShape)
        var argmax = [Int](repeating: 0, count: outer * inner)
        let px = data, po = out.data
        for o in 0..<outer {
            for i in 0..<inner {
                var best = px[o * n * inner + i], bi = 0
                for k in 1..<Swift.max(n, 1) where px[(o * n + k) * inner + i] > best {
                    best = px[(o * n + k) * inner + i]; bi = k
                }
                po[o * inner + i] = best
                argmax[o * inner + i] = bi
            }
        }
        let x = self
        return out.record("max", [x]) { out in
            let g = out.grad!.data, gx = x.gradData()
            for o in 0..<outer {
                for i in 0..<inner { gx[(o * n + argmax[o * inner + i]) * inner + i] += g[o * inner + i] }
            }
        }
    }
}

/// Σ x[i] with eight lanes; the order is fixed by n alone.
@inline(__always) func sumContiguous(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = F8(), acc1 = F8()
    var i = 0
    while i + 16 <= n { acc0 += load8(x + i); acc1 += load8(x + i + 8); i += 16 }
    if i + 8 <= n { acc0 += load8(x + i); i += 8 }
    var s = (acc0 + acc1).sum()
    while i < n { s += x[i]; i += 1 }
    return s
}
