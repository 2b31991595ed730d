/// Matrix product over the last two dimensions.
///
/// `a`: (..., M, K). `b`: (K, N) shared by every batch, or (..., K, N) with the same leading
/// dimensions as `a`. With `transposeB`, `b` is stored (..., N, K), as a Linear layer's weight.
/// Returns (..., M, N).
public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank ≥ 2, got \(a.shape) and \(b.shape)")
    let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
    let (bk, n) = transposeB ? (b.shape[b.rank - 1], b.shape[b.rank - 2]) : (b.shape[b.rank - 2], b.shape[b.rank - 1])
    precondition(k == bk, "matmul: inner dimensions differ: \(a.shape) × \(b.shape)\(transposeB ? "ᵀ" : "")")
    let batchShape = Array(a.shape.dropLast(2))
    let sharedB = b.rank == 2
    precondition(sharedB || Array(b.shape.dropLast(2)) == batchShape,
                 "matmul: batch dimensions differ: \(a.shape) × \(b.shape)")
    let batch = batchShape.reduce(1, *)
    let out = Tensor.empty(batchShape + [m, n])
    let ldb = transposeB ? k : n
    if sharedB {
        // One GEMM over all batch rows at once: (batch·M, K) × (K, N).
        gemm(transA: false, transB: transposeB, m: batch * m, n: n, k: k, a: a.data, lda: k,
             b: b.data, ldb: ldb, beta: 0, c: out.data, ldc: n)
    } else {
        batchedGemm(batch, transA: false, transB: transposeB, m: m, n: n, k: k, a: a.data, lda: k, strideA: m * k,
                    b: b.data, ldb: ldb, strideB: k * n, beta: 0, c: out.data, ldc: n, strideC: m * n)
    }
    return out.record("matmul", [a, b]) { out in
        let g = out.grad!.data
        // Each product below writes all of its gradient: β = 0 into a fresh buffer, else 1.
        if a.requiresGrad {
            // dA = dC · op(B)ᵀ
            let (ga, accumulate) = a.gradBuffer()
            let beta: Float = accumulate ? 1 : 0
            if sharedB {
                gemm(transA: false, transB: !transposeB, m: batch * m, n: k, k: n, a: g, lda: n,
                     b: b.data, ldb: ldb, beta: beta, c: ga, ldc: k)
            } else {
                batchedGemm(batch, transA: false, transB: !transposeB, m: m, n: k, k: n, a: g, lda: n, strideA: m * n,
                            b: b.data, ldb: ldb, strideB: k * n, beta: beta, c: ga, ldc: k, strideC: m * k)
            }
        }
        if b.requiresGrad {
            // dB = op(A)ᵀ · dC, or (dC)ᵀ · A when B is stored transposed.
            let (gb, accumulate) = b.gradBuffer()
            let beta: Float = accumulate ? 1 : 0
            if sharedB {
                if transposeB {
                    gemm(transA: true, transB: false, m: n, n: k, k: batch * m, a: g, lda: n,
                         b: a.data, ldb: k, beta: beta, c: gb, ldc: k)
                } else {
                    gemm(transA: true, transB: false, m: k, n: n, k: batch * m, a: a.data, lda: k,
                         b: g, ldb: n, beta: beta, c: gb, ldc: n)
                }
            } else if transposeB {
                batchedGemm(batch, transA: true, transB: false, m: n, n: k, k: m, a: g, lda: n, strideA: m * n,
                            b: a.data, ldb: k, strideB: m * k, beta: beta, c: gb, ldc: k, strideC: n * k)
            } else {
                batchedGemm(batch, transA: true, transB: false, m: k, n: n, k: m, a: a.data, lda: k, strideA: m * k,
                            b: g, ldb: n, strideB: m * n, beta: beta, c: gb, ldc: n, strideC: k * n)
            }
        }
    }
}

/// Independent GEMMs, one per batch entry; large products split inside, small ones across the batch.
func batchedGemm(_ batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                 a: UnsafePointer<Float>, lda: Int, strideA: Int, b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
    if 2 * m * n * k >= 1 << 22 {
        for i in 0..<batch {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a + i * strideA, lda: lda,
                 b: b + i * strideB, ldb: ldb, beta: beta, c: c + i * strideC, ldc: ldc)
        }
        return
    }
    Parallel.configureBLAS()
    Parallel.forEachChunk(batch, grain: Swift.max(1, (1 << 20) / Swift.max(2 * m * n * k, 1))) { range in
        for i in range {
            sgemm(transA, transB, m, n, k, a + i * strideA, lda, b + i * strideB, ldb, beta: beta, c + i * strideC, ldc)
        }
    }
}

extension Tensor {
    /// self · other (see `matmul`).
    public func matmul(_ other: Tensor, transposeB: Bool = false) -> Tensor {
        TensorCore.matmul(self, other, transposeB: transposeB)
    }
}

/// y = x·Wᵀ (+ b), as `torch.nn.functional.linear`: x (..., in), W (out, in), b (out).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    let y = matmul(x, weight, transposeB: true)
    if let bias { return y + bias }
    return y
}
