import CBLAS

/// C = alpha·op(A)·op(B) + beta·C, row-major, split over threads by rows of C (or by columns
/// when C has few rows). Each chunk is one single-threaded OpenBLAS call, so the result does
/// not depend on scheduling, only on the thread count.
public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    Parallel.configureBLAS()
    if m == 0 || n == 0 { return }
    func call(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ m: Int, _ n: Int) {
        sgemm(transA, transB, m, n, k, alpha: alpha, a, lda, b, ldb, beta: beta, c, ldc)
    }
    // Below ~1 MFLOP a second thread costs more than it saves.
    let flops = 2 * m * n * k
    if Parallel.threads == 1 || flops < 1 << 20 {
        call(a, b, c, m, n)
        return
    }
    if m >= 4 * Parallel.threads {
        Parallel.forEachChunk(m) { rows in
            // Rows of op(A) start at a + i·lda, or at column i when A is stored transposed.
            let aOff = transA ? rows.lowerBound : rows.lowerBound * lda
            call(a + aOff, b, c + rows.lowerBound * ldc, rows.count, n)
        }
    } else {
        Parallel.forEachChunk(n) { cols in
            let bOff = transB ? cols.lowerBound * ldb : cols.lowerBound
            call(a, b + bOff, c + cols.lowerBound, m, cols.count)
        }
    }
}

/// C = α·op(A)·op(B) + β·C, row-major, one single-threaded OpenBLAS call (nothing when C is empty).
@inline(__always)
func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
           _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
           beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
