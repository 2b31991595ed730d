extension Tensor {
    /// Same values, new shape (one dimension may be -1). Shares the buffer: no copy.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if s == shape { return self }
        let out = Tensor(shape: s, buffer: buffer)
        let x = self
        return out.record("reshape", [x]) { out in addInto(x.gradData(), out.grad!.data, x.count) }
    }

    /// Reorder dimensions: out.shape[i] = shape[dims[i]]. Copies.
    public func permute(_ dims: [Int]) -> Tensor {
        precondition(dims.sorted() == Array(0..<rank), "permute: \(dims) is not a permutation of 0..<\(rank)")
        let out = Tensor.empty(dims.map { shape[$0] })
        permuteCopy(data, shape: shape, dims: dims, into: out.data, accumulate: false)
        let x = self
        let inverse = dims.indices.map { dims.firstIndex(of: $0)! }
        return out.record("permute", [x]) { out in
            permuteCopy(out.grad!.data, shape: out.shape, dims: inverse, into: x.gradData(), accumulate: true)
        }
    }

    /// Swap two dimensions. Copies.
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var dims = Array(0..<rank)
        dims.swapAt(normalize(axis: a, rank: rank), normalize(axis: b, rank: rank))
        return permute(dims)
    }

    /// Elements `range` along `axis`. Copies.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[ax], "slice \(range) out of bounds for axis \(ax) of \(shape)")
        let (outer, n, inner) = splitShape(shape, at: ax)
        var outShape = shape
        outShape[ax] = range.count
        let out = Tensor.empty(outShape)
        let len = range.count * inner
        for o in 0..<outer {
            (out.data + o * len).update(from: data + (o * n + range.lowerBound) * inner, count: len)
        }
        let x = self
        return out.record("slice", [x]) { out in
            let g = out.grad!.data, gx = x.gradData()
            for o in 0..<outer { addInto(gx + (o * n + range.lowerBound) * inner, g + o * len, len) }
        }
    }

    /// The previous position along `axis`, the first position repeated: out_t = x_{max(t−1, 0)}.
    /// The same as concat([slice(0..<1), slice(0..<n−1)]) (the tests hold it to that), in one
    /// copy instead of three: Hilsenbek's generative function takes it of every MLP activation.
    public func shiftedPrevious(axis: Int) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let (outer, n, inner) = splitShape(shape, at: ax)
        if n <= 1 { return self }
        let out = Tensor.empty(shape)
        let len = n * inner, src = data, dst = out.data
        let grain = Swift.max(1, (1 << 15) / Swift.max(len, 1))
        Parallel.forEachChunk(outer, grain: grain) { r in
            for o in r {
                (dst + o * len).update(from: src + o * len, count: inner)
                (dst + o * len + inner).update(from: src + o * len, count: len - inner)
            }
        }
        let x = self
        return out.record("shiftedPrevious", [x]) { out in
            // x_s feeds out_{s+1}, and x_0 also out_0; x_{n−1} feeds nothing.
            let g = out.grad!.data
            let (gx, accumulate) = x.gradBuffer()
            Parallel.forEachChunk(outer, grain: grain) { r in
                for o in r {
                    let gs = g + o * len, gd = gx + o * len
                    if accumulate {
                        addInto(gd, gs, inner)
                        addInto(gd, gs + inner, len - inner)
                    } else {
                        gd.update(from: gs + inner, count: len - inner)
                        addInto(gd, gs, inner)
                        (gd + len - inner).update(repeating: 0, count: inner)
                    }
                }
            }
        }
    }
}

/// Join tensors along `axis`; all other dimensions must agree.
public func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    precondition(!parts.isEmpty, "concat of nothing")
    let ax = normalize(axis: axis, rank: parts[0].rank)
    var outShape = parts[0].shape
    outShape[ax] = parts.map { $0.shape[ax] }.reduce(0, +)
    for p in parts {
        var s = p.shape
        s[ax] = outShape[ax]
        precondition(s == outShape, "concat: shape \(p.shape) does not match \(parts[0].shape) off axis \(ax)")
    }
    let (outer, total, inner) = splitShape(outShape, at: ax)
    let out = Tensor.empty(outShape)
    var offset = 0
    for p in parts {
        let len = p.shape[ax] * inner
        for o in 0..<outer { (out.data + (o * total) * inner + offset).update(from: p.data + o * len, count: len) }
        offset += len
    }
    return out.record("concat", parts) { out in
        let g = out.grad!.data
        var offset = 0
        for p in parts {
            let len = p.shape[ax] * inner
            if p.requiresGrad {
                let gp = p.gradData()
                for o in 0..<outer { addInto(gp + o * len, g + o * total * inner + offset, len) }
            }
            offset += len
        }
    }
}

/// dst[permuted index] (+)= src[index], walking the output in order.
func permuteCopy(_ src: UnsafePointer<Float>, shape: [Int], dims: [Int], into dst: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let r = shape.count
    let n = shape.reduce(1, *)
    if r == 0 || n == 0 { if n == 1 { dst[0] = accumulate ? dst[0] + src[0] : src[0] }; return }
    var srcStrides = [Int](repeating: 1, count: r)
    for i in stride(from: r - 2, through: 0, by: -1) { srcStrides[i] = srcStrides[i + 1] * shape[i + 1] }
    let outShape = dims.map { shape[$0] }
    let stepOf = dims.map { srcStrides[$0] }   // source stride of each output dimension
    let inner = outShape[r - 1], innerStep = stepOf[r - 1]
    var idx = [Int](repeating: 0, count: r)
    var srcOff = 0, o = 0
    while o < n {
        if accumulate {
            for j in 0..<inner { dst[o + j] += src[srcOff + j * innerStep] }
        } else {
            for j in 0..<inner { dst[o + j] = src[srcOff + j * innerStep] }
        }
        o += inner
        var d = r - 2
        while d >= 0 {
            idx[d] += 1; srcOff += stepOf[d]
            if idx[d] < outShape[d] { break }
            srcOff -= stepOf[d] * idx[d]; idx[d] = 0; d -= 1
        }
        if d < 0 { break }
    }
}
