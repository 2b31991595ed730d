import Foundation

// CHELA's short-long convolutions (arXiv 2406.08128): a short causal depthwise conv, SiLU,
// then a long causal depthwise conv whose kernel is as long as the sequence.
// B = batch, L = sequence length, D = channels, K = kernel length (lags).
//
// Kernel convention, shared by both ops: a kernel (D, K) is indexed by **lag**, j = 0 being the
// current step: y[b, t, d] = Σ_j kernel[d, j]·x[b, t − j, d]. So a short kernel is a long one
// with its tail of lags zero, and parallel branches of any lengths merge by adding zero-padded
// kernels (`mergeCausalKernels`).
//
// PyTorch (which reverses the kernel, its conv being a cross-correlation): the same layer is
// `torch.nn.Conv1d(D, D, K, groups=D, padding=K-1)` on (B, D, L), keeping outputs [:, :, :L],
// with `conv.weight = kernel.flip(-1).unsqueeze(1)` (weight[d, 0, K−1−j] = kernel[d, j]) and
// `conv.bias = bias`.
// The long conv needs no flip: with u = x.transpose(1, 2) (B, D, L) and the kernel (D, L) as
// it is, `torch.fft.irfft(torch.fft.rfft(u, n=2*L) * torch.fft.rfft(kernel, n=2*L), n=2*L)[..., :L]`.

/// Causal depthwise convolution with a short kernel, summed directly (O(B·L·D·K)).
///
/// y[b, t, d] = bias[d] + Σ_{j<K, j≤t} kernel[d, j]·x[b, t − j, d]
///
/// x: (B, L, D); kernel: (D, K), lag-indexed (see the top of this file for the PyTorch
/// mapping); bias: (D) or nil. Returns (B, L, D). K > L is allowed (lags ≥ L never reach an
/// output). For kernels as long as the sequence use `causalLongConv`.
/// ```swift
/// let h = causalShortConv(x, kernel: w, bias: b).silu()   // x (B, L, D), w (D, 3), b (D)
/// ```
public func causalShortConv(_ x: Tensor, kernel: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(x.rank == 3 && kernel.rank == 2 && kernel.shape[0] == x.shape[2],
                 "causalShortConv needs x (B, L, D) and kernel (D, K), got \(x.shape), \(kernel.shape)")
    precondition(bias == nil || bias!.shape == [x.shape[2]],
                 "causalShortConv: bias must be (D) = [\(x.shape[2])], got \(bias!.shape)")
    let l = x.shape[1], d = x.shape[2], k = kernel.shape[1], rows = x.shape[0] * l
    // Lag-major (K, D): every lag's weights are contiguous across channels, the vectorised axis.
    let wt = Buffer(count: k * d, zeroed: false)
    for c in 0..<d { for j in 0..<k { wt.pointer[j * d + c] = kernel.data[c * k + j] } }
    let zeros = Buffer(count: d)
    let out = Tensor.empty(x.shape)
    let px = x.data, py = out.data
    let w = UnsafePointer(wt.pointer), pb = UnsafePointer(bias?.data ?? zeros.pointer)
    Parallel.forEachChunk(rows, grain: Swift.max(1, 8192 / Swift.max(d * k, 1))) { range in
        for row in range {
            let t = row % l
            // Lags 0...min(K−1, t): x[t − j] is this row minus j rows.
            sumOfLags(d, lags: Swift.min(k, t + 1), start: pb, weights: w, ld: d,
                      rows: { UnsafePointer(px + (row - $0) * d) }, into: py + row * d, accumulate: false)
        }
    }
    var inputs = [x, kernel]
    if let bias { inputs.append(bias) }
    return out.record("causalShortConv", inputs) { out in
        let g = UnsafePointer(out.grad!.data), w = UnsafePointer(wt.pointer)   // keeps `wt` alive
        if x.requiresGrad {
            // dx[b, u, d] = Σ_{j<K, u+j<L} kernel[d, j]·dy[b, u + j, d]: each row reads later rows only.
            let (gx, accumulate) = x.gradBuffer()
            Parallel.forEachChunk(rows, grain: Swift.max(1, 8192 / Swift.max(d * k, 1))) { range in
                for row in range {
                    let t = row % l
                    sumOfLags(d, lags: Swift.min(k, l - t), start: nil, weights: w, ld: d,
                              rows: { g + (row + $0) * d }, into: gx + row * d, accumulate: accumulate)
                }
            }
        }
        let needKernel = kernel.requiresGrad, needBias = bias?.requiresGrad ?? false
        if needKernel || needBias {
            // dkernel[d, j] = Σ_{b, t≥j} dy[b, t, d]·x[b, t − j, d]; dbias[d] = Σ_{b,t} dy[b, t, d].
            // Split over channels, rows summed in order: the result does not depend on the split.
            let gwt = Buffer(count: k * d), gb = Buffer(count: d)
            let pw = gwt.pointer, pgb = gb.pointer
            Parallel.forEachChunk(d, grain: 8) { cs in
                let lo = cs.lowerBound, n = cs.count
                for row in 0..<rows {
                    let t = row % l, gy = g + row * d + lo
                    if needBias { addInto(pgb + lo, gy, n) }
                    if needKernel {
                        for j in 0..<Swift.min(k, t + 1) { multiplyAdd(pw + j * d + lo, gy, px + (row - j) * d + lo, n) }
                    }
                }
            }
            if needKernel {
                let gk = kernel.gradData()
                for c in 0..<d { for j in 0..<k { gk[c * k + j] += pw[j * d + c] } }
            }
            if needBias { addInto(bias!.gradData(), pgb, d) }
        }
    }
}

/// out (+)= start + Σ_{j<lags} weights[j·ld ..< j·ld + n] ⊙ rows(j)[0..<n], accumulated in
/// registers in order of j (one store per output); start nil means 0.
@inline(__always)
private func sumOfLags(_ n: Int, lags: Int, start: UnsafePointer<Float>?, weights: UnsafePointer<Float>, ld: Int,
                       rows: (Int) -> UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
    var e = 0
    while e + 8 <= n {
        var acc = start.map { load8($0 + e) } ?? F8()
        for j in 0..<lags { acc.addProduct(load8(weights + j * ld + e), load8(rows(j) + e)) }
        store8(accumulate ? load8(out + e) + acc : acc, out + e)
        e += 8
    }
    while e < n {
        var acc = start?[e] ?? 0
        for j in 0..<lags { acc = acc.addingProduct(weights[j * ld + e], rows(j)[e]) }
        out[e] = accumulate ? out[e] + acc : acc
        e += 1
    }
}

/// y[i] += a[i]·b[i].
@inline(__always) private func multiplyAdd(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                                           _ b: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n { store8(load8(y + i).addingProduct(load8(a + i), load8(b + i)), y + i); i += 8 }
    while i < n { y[i] = y[i].addingProduct(a[i], b[i]); i += 1 }
}

/// The single lag-indexed kernel of parallel causal conv branches: Σ_i conv(x, kernel_i) =
/// conv(x, Σ_i kernel_i zero-padded to the longest), for `causalShortConv` and
/// `causalLongConv` alike (structural reparameterisation: train branches, merge for inference;
/// biases merge by adding). Each kernel is (D, K_i); returns (D, max K_i). Not differentiated.
/// ```swift
/// let k = mergeCausalKernels([k3, k5, k7])   // (D, 7)
/// ```
public func mergeCausalKernels(_ kernels: [Tensor]) -> Tensor {
    precondition(!kernels.isEmpty, "mergeCausalKernels needs at least one kernel")
    let d = kernels[0].shape.first ?? 0
    precondition(kernels.allSatisfy { $0.rank == 2 && $0.shape[0] == d },
                 "mergeCausalKernels needs kernels (D, K_i) with one D, got \(kernels.map(\.shape))")
    let k = kernels.map { $0.shape[1] }.max()!
    let merged = Tensor.zeros([d, k])
    for kernel in kernels {
        let ki = kernel.shape[1]
        for c in 0..<d { addInto(merged.data + c * k, kernel.data + c * ki, ki) }
    }
    return merged
}

/// Causal depthwise convolution with a kernel as long as the sequence, through FFTs
/// (O(B·D·L log L)); the long half of CHELA's short-long module (Fu et al. 2023's long conv).
///
/// y[b, t, d] = Σ_{s≤t} kernel[d, s]·x[b, t − s, d]
///
/// x: (B, L, D); kernel: (D, K) with 1 ≤ K ≤ L, lag-indexed like `causalShortConv` (K < L is
/// a kernel whose later lags are zero). Returns (B, L, D).
/// Precondition (a trap with a message, not a thrown error): K ≤ L. A longer kernel has lags
/// that can never reach an output; slice it to the sequence (`kernel.slice(axis: 1, 0..<L)`).
///
/// Each (batch, channel) row is zero-padded to a length N ≥ 2L with only small prime factors
/// (`RealFFT.goodLength`), so the circular convolution of the FFTs equals the linear one on
/// the first L outputs: y = irfft(rfft(x)·rfft(kernel))[..<L]. Backward, from dy:
///   dx[u] = Σ_{t≥u} dy[t]·kernel[t − u]      = irfft(rfft(dy)·conj(rfft(kernel)))[..<L]
///   dkernel[d, s] = Σ_{b,t} dy[t]·x[t − s]  = irfft(Σ_b rfft(dy)·conj(rfft(x)))[..<K]
/// (anti-causal correlations; N ≥ 2L − 1 keeps their wrap-around in the zero padding too).
/// Work is split over channels, batches summed in order, so results do not depend on the
/// thread count.
/// ```swift
/// let y = causalLongConv(causalShortConv(x, kernel: w).silu(), kernel: longKernel)   // (B, L, D)
/// ```
public func causalLongConv(_ x: Tensor, kernel: Tensor) -> Tensor {
    precondition(x.rank == 3 && kernel.rank == 2 && kernel.shape[0] == x.shape[2],
                 "causalLongConv needs x (B, L, D) and kernel (D, K), got \(x.shape), \(kernel.shape)")
    let b = x.shape[0], l = x.shape[1], d = x.shape[2], k = kernel.shape[1]
    precondition(k >= 1 && k <= l,
                 "causalLongConv: kernel length \(k) must be in 1...L = 1...\(l); slice a longer kernel to the sequence")
    let out = Tensor.empty(x.shape)
    if x.count == 0 {
        return out.record("causalLongConv", [x, kernel]) { _ in }
    }
    let fft = RealFFT.plan(RealFFT.goodLength(atLeast: 2 * l))
    let n = fft.n, rs = fft.rowStride, bins = n / 2 + 1
    // Channels per task: up to 8 gathered per pass over a sequence (one cache line serves them
    // all), fewer when D is small so every thread gets some. Per-row arithmetic is the same
    // whatever the grouping.
    let group = Swift.max(1, Swift.min(8, d / Parallel.threads)), groups = (d + group - 1) / group
    let px = x.data, pk = kernel.data, py = out.data

    /// spectra[j] ← rfft(kernel[d0 + j]) / N for j < g, through `padded` (one row of scratch).
    func kernelSpectra(_ d0: Int, _ g: Int, into spectra: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>) {
        let inverseN = 1 / Float(n)
        for j in 0..<g {
            padded.update(from: pk + (d0 + j) * k, count: k)
            (padded + k).update(repeating: 0, count: n - k)
            fft.forward(padded, spectra + j * rs)
            scale(spectra + j * rs, 2 * bins, by: inverseN)
        }
    }

    Parallel.forEachChunk(groups) { range in
        let scratch = Buffer(count: (2 * group + 1) * rs, zeroed: false)
        let kHat = scratch.pointer, rows = kHat + group * rs, spectrum = rows + group * rs
        for gi in range {
            let d0 = gi * group, g = Swift.min(group, d - d0)
            kernelSpectra(d0, g, into: kHat, padded: rows)
            for bi in 0..<b {
                gatherChannels(px + bi * l * d + d0, ld: d, length: l, channels: g, into: rows, rowStride: rs, paddedTo: n)
                for j in 0..<g {
                    fft.forward(rows + j * rs, spectrum)
                    multiplySpectra(spectrum, by: kHat + j * rs, bins, conjugate: false)
                    fft.inverse(spectrum, rows + j * rs)
                }
                scatterChannels(rows, rowStride: rs, channels: g, length: l, into: py + bi * l * d + d0, ld: d, accumulate: false)
            }
        }
    }
    return out.record("causalLongConv", [x, kernel]) { out in
        let gy = out.grad!.data
        let gx = x.requiresGrad ? x.gradData() : nil, gk = kernel.requiresGrad ? kernel.gradData() : nil
        Parallel.forEachChunk(groups) { range in
            // kHat, correlation sums, dy rows, x rows: g rows each; two spectra.
            let scratch = Buffer(count: (4 * group + 2) * rs, zeroed: false)
            let kHat = scratch.pointer, sums = kHat + group * rs, dyRows = sums + group * rs
            let xRows = dyRows + group * rs, dySpectrum = xRows + group * rs, xSpectrum = dySpectrum + rs
            for gi in range {
                let d0 = gi * group, g = Swift.min(group, d - d0)
                if gx != nil { kernelSpectra(d0, g, into: kHat, padded: dyRows) }
                if gk != nil { sums.update(repeating: 0, count: g * rs) }
                for bi in 0..<b {
                    let offset = bi * l * d + d0
                    gatherChannels(gy + offset, ld: d, length: l, channels: g, into: dyRows, rowStride: rs, paddedTo: n)
                    if gk != nil {
                        gatherChannels(px + offset, ld: d, length: l, channels: g, into: xRows, rowStride: rs, paddedTo: n)
                    }
                    for j in 0..<g {
                        fft.forward(dyRows + j * rs, dySpectrum)
                        if gk != nil {
                            fft.forward(xRows + j * rs, xSpectrum)
                            accumulateCorrelation(sums + j * rs, dySpectrum, xSpectrum, bins)
                        }
                        if gx != nil {
                            multiplySpectra(dySpectrum, by: kHat + j * rs, bins, conjugate: true)
                            fft.inverse(dySpectrum, dyRows + j * rs)
                        }
                    }
                    if let gx {
                        scatterChannels(dyRows, rowStride: rs, channels: g, length: l, into: gx + offset, ld: d, accumulate: true)
                    }
                }
                if let gk {
                    let inverseN = 1 / Float(n)
                    for j in 0..<g {
                        fft.inverse(sums + j * rs, xRows)
                        axpy(inverseN, xRows, gk + (d0 + j) * k, k)
                    }
                }
            }
        }
    }
}

/// x[i] *= s.
@inline(__always) private func scale(_ x: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
    for i in 0..<n { x[i] *= s }
}

/// rows[j·rowStride + t] = src[t·ld + j] for t < length, j < channels, then zeros up to
/// `paddedTo`: a few channels of one (L, D) sequence as contiguous, zero-padded rows. Eight
/// channels go through 8×8 register transposes (eight loads, eight stores per block).
@inline(__always)
private func gatherChannels(_ src: UnsafePointer<Float>, ld: Int, length: Int, channels: Int,
                            into rows: UnsafeMutablePointer<Float>, rowStride: Int, paddedTo n: Int) {
    var t = 0
    if channels == 8 {
        while t + 8 <= length {
            let block = transpose8x8 { load8(src + (t + $0) * ld) }
            for j in 0..<8 { store8(block[j], rows + j * rowStride + t) }
            t += 8
        }
    }
    while t < length {
        let s = src + t * ld
        for j in 0..<channels { rows[j * rowStride + t] = s[j] }
        t += 1
    }
    for j in 0..<channels { (rows + j * rowStride + length).update(repeating: 0, count: n - length) }
}

/// dst[t·ld + j] (+)= rows[j·rowStride + t] for t < length, j < channels: the inverse of `gatherChannels`.
@inline(__always)
private func scatterChannels(_ rows: UnsafePointer<Float>, rowStride: Int, channels: Int, length: Int,
                             into dst: UnsafeMutablePointer<Float>, ld: Int, accumulate: Bool) {
    var t = 0
    if channels == 8 {
        while t + 8 <= length {
            let block = transpose8x8 { load8(rows + $0 * rowStride + t) }
            for i in 0..<8 {
                let o = dst + (t + i) * ld
                store8(accumulate ? load8(o) + block[i] : block[i], o)
            }
            t += 8
        }
    }
    while t < length {
        let o = dst + t * ld
        if accumulate {
            for j in 0..<channels { o[j] += rows[j * rowStride + t] }
        } else {
            for j in 0..<channels { o[j] = rows[j * rowStride + t] }
        }
        t += 1
    }
}

/// The transpose of eight rows of eight: three rounds of the perfect shuffle (row i and row
/// i + 4 interleaved into rows 2i and 2i + 1), each rotating the 6-bit (row, column) index by
/// one bit, so three swap row and column.
@inline(__always) private func transpose8x8(_ row: (Int) -> F8) -> Block8x8 {
    var r = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
    @inline(__always) func low(_ a: F8, _ b: F8) -> F8 { var v = F8(); v.evenHalf = a.lowHalf; v.oddHalf = b.lowHalf; return v }
    @inline(__always) func high(_ a: F8, _ b: F8) -> F8 { var v = F8(); v.evenHalf = a.highHalf; v.oddHalf = b.highHalf; return v }
    for _ in 0..<3 {
        r = (low(r.0, r.4), high(r.0, r.4), low(r.1, r.5), high(r.1, r.5),
             low(r.2, r.6), high(r.2, r.6), low(r.3, r.7), high(r.3, r.7))
    }
    return Block8x8(rows: r)
}

/// Eight vectors in registers, indexable without an array's heap allocation.
private struct Block8x8 {
    var rows: (F8, F8, F8, F8, F8, F8, F8, F8)
    @inline(__always) subscript(_ i: Int) -> F8 {
        withUnsafeBytes(of: rows) { $0.load(fromByteOffset: i * MemoryLayout<F8>.stride, as: F8.self) }
    }
}
