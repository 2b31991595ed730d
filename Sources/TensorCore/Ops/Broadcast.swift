/// NumPy broadcasting of two shapes (aligned at the trailing dimension).
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = Swift.max(a.count, b.count)
    return (0..<r).map { i in
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
        return Swift.max(da, db)
    }
}

/// How each row (all dimensions but the last) of a broadcast output maps to its operands:
/// the offset of the row's first element in each operand, and each operand's step along the
/// last dimension (0 where it is broadcast).
struct BroadcastWalk {
    let outShape: [Int]
    let inner: Int
    let rows: Int
    let offsets: [[Int]]      // per operand, per row
    let innerStrides: [Int]   // per operand

    init(_ shapes: [[Int]], out: [Int]) {
        outShape = out
        inner = out.last ?? 1
        rows = out.isEmpty ? 1 : out.dropLast().reduce(1, *)
        let r = out.count
        var offs: [[Int]] = []
        var innerS: [Int] = []
        for s in shapes {
            // Strides of operand s viewed in the output's rank, 0 along broadcast dimensions.
            var strides = [Int](repeating: 0, count: r)
            var acc = 1
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                let oi = i + r - s.count
                strides[oi] = s[i] == 1 && out[oi] != 1 ? 0 : acc
                acc *= s[i]
            }
            innerS.append(r == 0 ? 0 : strides[r - 1])
            var rowOffsets = [Int](repeating: 0, count: rows)
            if r > 1 {
                var idx = [Int](repeating: 0, count: r - 1)
                var off = 0
                for row in 0..<rows {
                    rowOffsets[row] = off
                    var d = r - 2
                    while d >= 0 {
                        idx[d] += 1; off += strides[d]
                        if idx[d] < out[d] { break }
                        off -= strides[d] * idx[d]; idx[d] = 0; d -= 1
                    }
                }
            }
            offs.append(rowOffsets)
        }
        offsets = offs
        innerStrides = innerS
    }
}

/// Add `src` (shape `from`) into `dst` (shape `to`, broadcastable to `from`), summing over
/// the broadcast dimensions: the backward of broadcasting.
func accumulateReduced(_ dst: UnsafeMutablePointer<Float>, to: [Int], _ src: UnsafePointer<Float>, from: [Int]) {
    if to == from { addInto(dst, src, from.reduce(1, *)); return }
    let walk = BroadcastWalk([to], out: from)
    let inner = walk.inner, s = walk.innerStrides[0]
    for row in 0..<walk.rows {
        let d = dst + walk.offsets[0][row], p = src + row * inner
        if s == 1 { addInto(d, p, inner) } else {
            var acc: Float = 0
            for j in 0..<inner { acc += p[j] }
            d[0] += acc
        }
    }
}
